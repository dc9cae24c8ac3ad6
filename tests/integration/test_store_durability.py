"""Durability and concurrency on the real backends: bounded file under churn, crash
safety under SIGKILL, and no lost updates under concurrent compare-and-swap."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from k3os.store import Compacted, Conflict, Store, StoreOptions, open_store
from tests.unit.store.etcd_server import EtcdServer, run_etcd

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


# -- the file stays bounded under churn -------------------------------------------------

#: 200,000 updates of 100-byte values on 100 keys write ~35 MB of history. With
#: compaction every 0.2 s keeping 1,000 revisions, the database file must stay below
#: DB_BOUND (it levels off near 2 MB) and the WAL below WAL_BOUND (SQLite checkpoints it
#: every ~4 MB and the store truncates it back to at most 8 MB).
DB_BOUND = 4 * 1024 * 1024
WAL_BOUND = 8 * 1024 * 1024


async def test_file_stays_bounded_under_churn(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    options = StoreOptions(retention=1000, retention_seconds=0, compact_interval=0.2)
    peak = (0, 0)
    async with await open_store(f"sqlite://{path}", options) as store:
        kvs = [await store.create(f"/registry/leases/node-{i:03}", b"x" * 100) for i in range(100)]

        async def churn(kv_index: int) -> None:
            kv = kvs[kv_index]
            for n in range(2000):
                value = (b"%08d" % n) * 12 + b"xxxx"
                kv = await store.update(kv.key, value, expected_mod_revision=kv.mod_revision)

        async def measure() -> None:
            nonlocal peak
            while True:
                db, wal = _db_size(path)
                peak = (max(peak[0], db), max(peak[1], wal))
                await asyncio.sleep(0.05)

        reads = [0]

        async def read() -> None:
            """Readers at the head and in the window run alongside, and never fail."""
            while True:
                head = await store.range("/registry/leases/", limit=10)
                assert len(head.items) == 10
                with contextlib.suppress(Compacted):  # compaction may overtake us
                    await store.range("/registry/leases/", revision=head.revision - 500)
                reads[0] += 1
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(measure())
        reader = asyncio.create_task(read())
        await asyncio.gather(*(churn(i) for i in range(100)))
        for task in (sampler, reader):
            task.cancel()
            await sampler_done(task)
        assert reads[0] > 0
        head = await store.current_revision()
        assert head == 100 + 200_000
        assert len((await store.range("/registry/leases/")).items) == 100
    assert peak[0] < DB_BOUND, f"the database file reached {peak[0]} bytes"
    assert peak[1] < WAL_BOUND, f"the WAL reached {peak[1]} bytes"
    assert _db_size(path)[0] < DB_BOUND


async def test_wal_starts_over_once_a_pinning_reader_lets_go(tmp_path: Path) -> None:
    """A reader that holds a snapshot keeps passive checkpoints from letting the WAL start
    over, so it grows past WAL_RESET_BYTES; once the reader lets go, the next checkpoint
    truncates it (a passive one alone would leave the file at its peak size)."""
    from k3os.store import _sqlite_writer

    path = tmp_path / "state.db"
    async with await open_store(f"sqlite://{path}") as store:
        kv = await store.create("/registry/leases/pinned", b"x")
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchall()  # a snapshot, held
        value = os.urandom(4000)
        writer = store._writer  # type: ignore[attr-defined]
        deadline = time.monotonic() + 60
        # Until a checkpoint found the WAL past the mark and tried to truncate it (it
        # could not: the reader holds on).
        while not writer.wal_resets and time.monotonic() < deadline:
            for _ in range(50):
                kv = await store.update(kv.key, value, expected_mod_revision=kv.mod_revision)
            await asyncio.sleep(0.01)  # the writer thread checkpoints between batches
        assert writer.wal_resets >= 1
        assert _db_size(path)[1] > _sqlite_writer.WAL_RESET_BYTES
        grown = _db_size(path)[1]
        reader.execute("COMMIT")
        reader.close()
        deadline = time.monotonic() + 30
        while _db_size(path)[1] >= _sqlite_writer.WAL_RESET_BYTES and time.monotonic() < deadline:
            for _ in range(50):
                kv = await store.update(kv.key, b"y", expected_mod_revision=kv.mod_revision)
        assert _db_size(path)[1] < _sqlite_writer.WAL_RESET_BYTES, (grown, _db_size(path))
        assert (await store.get(kv.key)) == kv  # nothing lost on the way


async def sampler_done(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _db_size(path: Path) -> tuple[int, int]:
    """(database file, WAL) sizes in bytes."""
    sizes = []
    for suffix in ("", "-wal"):
        try:
            sizes.append(os.path.getsize(f"{path}{suffix}"))
        except FileNotFoundError:
            sizes.append(0)
    return sizes[0], sizes[1]


# -- crash safety -----------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from k3os.store import KeyExists, StoreOptions, open_store

    async def main(url):
        store = await open_store(url, StoreOptions(compact_interval=0))

        async def writer(n):
            key = f"/crash/k{n}"
            kv = await store.get(key)
            if kv is None:
                try:
                    kv = await store.create(key, b"0")
                except KeyExists as e:
                    kv = e.current
                print("ack", key, kv.mod_revision, kv.value.decode(), flush=True)
            while True:
                value = b"%d" % (int(kv.value) + 1)
                kv = await store.update(key, value, expected_mod_revision=kv.mod_revision)
                print("ack", key, kv.mod_revision, kv.value.decode(), flush=True)

        print("ready", flush=True)
        await asyncio.gather(*(writer(n) for n in range(8)))

    asyncio.run(main(sys.argv[1]))
    """
)


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    url = f"sqlite://{path}"
    rng = random.Random(20)
    acked: dict[str, tuple[int, str]] = {}
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}"}
    for _ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, url],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        output, _ = proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        for line in output.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "ack":  # a torn last line is not an ack
                key, revision, value = parts[1], int(parts[2]), parts[3]
                if revision > acked.get(key, (0, ""))[0]:
                    acked[key] = (revision, value)
        _check_database(path, acked)
    assert len(acked) == 8
    assert sum(int(v) for _, v in acked.values()) > 8  # the writers made progress


def _check_database(path: Path, acked: dict[str, tuple[int, str]]) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count, low, high = conn.execute("SELECT COUNT(*), MIN(rev), MAX(rev) FROM log").fetchone()
        assert (low, count) == (1, high), "revisions must be contiguous from 1"
    finally:
        conn.close()

    async def check() -> None:
        async with await open_store(f"sqlite://{path}") as store:
            for key, (revision, value) in acked.items():
                at = await store.get(key, revision=revision)
                assert at is not None
                assert (at.mod_revision, at.value.decode()) == (revision, value)
                now = await store.get(key)
                assert now is not None
                assert now.mod_revision >= revision
                assert int(now.value) >= int(value)

    asyncio.run(check())


# -- no lost updates --------------------------------------------------------------------


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    with run_etcd(tmp_path_factory.mktemp("etcd")) as server:
        yield server


@pytest.fixture(params=["sqlite", "etcd"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, Store]]:
    """Two handles on one backend (SQLite: one store, shared; etcd: two connections)."""
    if request.param == "sqlite":
        store = await open_store(f"sqlite://{tmp_path}/state.db")
        yield store, store
        await store.close()
    else:
        server: EtcdServer = request.getfixturevalue("etcd")
        one, two = await open_store(server.url), await open_store(server.url)
        yield one, two
        await one.close()
        await two.close()


async def test_no_lost_updates_under_concurrent_compare_and_swap(
    stores: tuple[Store, Store],
) -> None:
    prefix = f"/counters-{random.randrange(10**9)}/"
    keys = [f"{prefix}{i}" for i in range(10)]
    for key in keys:
        await stores[0].create(key, b"0")
    successes = [0] * 50
    conflicts = [0]

    async def incrementer(n: int) -> None:
        store = stores[n % 2]
        rng = random.Random(n)
        while successes[n] < 20:
            key = rng.choice(keys)
            kv = await store.get(key)
            assert kv is not None
            try:
                await store.update(
                    key, b"%d" % (int(kv.value) + 1), expected_mod_revision=kv.mod_revision
                )
            except Conflict:
                conflicts[0] += 1
                continue
            successes[n] += 1

    await asyncio.gather(*(incrementer(n) for n in range(50)))
    total = 0
    for key in keys:
        kv = await stores[1].get(key)
        assert kv is not None
        total += int(kv.value)
        assert kv.version == int(kv.value) + 1
    assert total == sum(successes) == 50 * 20
    assert conflicts[0] > 0  # the writers really did collide
