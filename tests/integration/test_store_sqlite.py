"""The store contract on a real SQLite file, plus what only the SQLite driver promises."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from k3os.store import (
    Compacted,
    Conflict,
    EventType,
    KeyNotFound,
    Store,
    StoreOptions,
    StoreUnavailable,
    _sqlite_writer,
    open_store,
)
from k3os.store._sqlite import _JOIN_CURRENT
from tests.unit.store.conformance import MakeStore, StoreConformance, collect, next_event

pytestmark = pytest.mark.integration


@pytest.fixture
async def make_store(tmp_path: Path) -> AsyncIterator[MakeStore]:
    opened: list[Store] = []

    async def make(options: StoreOptions | None = None) -> Store:
        store = await open_store(f"sqlite://{tmp_path}/db{len(opened)}/state.db", options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


class TestSqliteConformance(StoreConformance):
    """Mostly inline commits: a test's event loop is idle when its writes are taken."""


class TestSqliteConformanceThreadCommits(StoreConformance):
    """The same contract with every batch committed by the writer thread, as on a busy
    loop or a slow disk."""

    @pytest.fixture(autouse=True)
    def _thread_commits_only(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(_sqlite_writer, "INLINE_COMMIT_BUDGET", -1.0)


async def test_state_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/state.db"
    store = await open_store(url)
    kv = await store.create("/a", b"one")
    kv = await store.update("/a", b"two", expected_mod_revision=kv.mod_revision)
    await store.create("/b", b"b")
    await store.delete("/b")
    await store.compact(kv.mod_revision)
    head = await store.current_revision()
    await store.close()

    store = await open_store(url)
    try:
        assert await store.current_revision() == head
        assert await store.get("/a") == kv
        assert (await store.range("/")).items == [kv]
        with pytest.raises(Compacted):
            await store.get("/a", revision=kv.mod_revision - 1)
        nxt = await store.create("/c", b"c")
        assert nxt.mod_revision == head + 1
    finally:
        await store.close()


async def test_a_second_process_cannot_open_the_file(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/state.db"
    async with await open_store(url):
        with pytest.raises(StoreUnavailable, match="in use by another process"):
            await open_store(url)
    async with await open_store(url):  # released on close
        pass


async def test_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreUnavailable, match="cannot create the directory"):
        await open_store(f"sqlite://{tmp_path}/file/sub/state.db")
    (tmp_path / "garbage.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match="cannot open SQLite database"):
        await open_store(f"sqlite://{tmp_path}/garbage.db")


async def test_ttl_deadline_survives_restart(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/state.db"
    async with await open_store(url) as store:
        kv = await store.create("/events/e1", b"x", ttl=1)
    await asyncio.sleep(1.1)  # expires while nobody has the file open
    async with await open_store(url) as store:
        async with await store.watch("/events/", start_revision=kv.mod_revision) as watch:
            assert (await next_event(watch)).kv == kv
            gone = await next_event(watch)
        assert gone.type is EventType.DELETE
        assert await store.get("/events/e1") is None


async def test_revisions_are_contiguous_from_one(tmp_path: Path) -> None:
    async with await open_store(f"sqlite://{tmp_path}/state.db") as store:

        async def writer(n: int) -> None:
            kv = await store.create(f"/k{n}", b"0")
            for _ in range(5):
                try:
                    kv = await store.update(kv.key, b"x", expected_mod_revision=kv.mod_revision)
                except Conflict:  # pragma: no cover - one writer per key
                    raise
            await store.delete(kv.key)
            with pytest.raises(KeyNotFound):
                await store.delete(kv.key)

        await asyncio.gather(*(writer(n) for n in range(20)))
        head = await store.current_revision()
        assert head == 20 * 7
        async with await store.watch("", start_revision=1) as watch:
            events = await collect(watch, head)
        assert [e.revision for e in events] == list(range(1, head + 1))


async def test_lagging_watcher_catches_up_from_disk_then_is_compacted(tmp_path: Path) -> None:
    async with await open_store(f"sqlite://{tmp_path}/state.db") as store:
        store._hub._capacity = 4  # type: ignore[attr-defined]  # force reads from history
        kv = await store.create("/a", b"0")
        watch = await store.watch("/", start_revision=1)
        for i in range(1, 40):
            kv = await store.update("/a", b"%d" % i, expected_mod_revision=kv.mod_revision)
        events = await collect(watch, 40)
        assert [e.kv.value for e in events] == [b"%d" % i for i in range(40)]
        assert all(e.prev_kv is not None for e in events[1:])
        # A second watcher that is still at revision 1 when compaction passes it.
        slow = await store.watch("/", start_revision=1)
        await store.compact(30)
        with pytest.raises(Compacted):
            await next_event(slow)
        await slow.aclose()
        await watch.aclose()


async def test_compaction_removes_superseded_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await open_store(f"sqlite://{path}") as store:
        kvs = [await store.create(f"/k{i}", b"v") for i in range(10)]
        for _ in range(20):
            kvs = [
                await store.update(kv.key, b"v", expected_mod_revision=kv.mod_revision)
                for kv in kvs
            ]
        for kv in kvs[:5]:
            await store.delete(kv.key)
        head = await store.current_revision()
        await store.compact(head)
        for _ in range(200):  # the writer compacts in the background
            if _log_rows(path) == 5:
                break
            await asyncio.sleep(0.01)
        assert _log_rows(path) == 5  # exactly the five live keys' latest rows
        assert len((await store.range("/")).items) == 5


def _log_rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM log").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_reads_at_every_revision_match_the_memory_driver(tmp_path: Path, seed: int) -> None:
    """Differential test: the same random history on memory:// and SQLite gives the same
    answers to paginated range reads at every retained revision."""
    rng = random.Random(seed)
    memory = await open_store("memory://")
    sqlite = await open_store(f"sqlite://{tmp_path}/state.db")
    try:
        keys = [f"/r/{c}" for c in "abcdefghij"] + ["/r/sub/x", "/r/sub/y", "/other"]
        for step in range(300):
            if step == 150:  # compact in the middle of the history too
                middle = await memory.current_revision() // 2
                await memory.compact(middle)
                await sqlite.compact(middle)
            key = rng.choice(keys)
            current = await memory.get(key)
            if current is None:
                op = ("create", key, b"%d" % rng.randrange(1000), None)
            elif rng.random() < 0.25:
                op = ("delete", key, b"", current.mod_revision)
            else:
                op = ("update", key, b"%d" % rng.randrange(1000), current.mod_revision)
            for store in (memory, sqlite):
                if op[0] == "create":
                    await store.create(op[1], op[2])
                elif op[0] == "update":
                    await store.update(op[1], op[2], expected_mod_revision=op[3] or 0)
                else:
                    await store.delete(op[1], expected_mod_revision=op[3])
        head = await memory.current_revision()
        assert await sqlite.current_revision() == head
        await memory.compact(head // 3)
        await sqlite.compact(head // 3)
        for revision in range(head // 3, head + 1):
            for prefix in ("/r/", "/r/sub/", "", "/nothing"):
                limit = rng.choice([0, 1, 3])
                after = rng.choice([None, "/r/c", "/r/sub/x", "/a"])
                expected = await memory.range(
                    prefix, revision=revision, limit=limit, start_after=after
                )
                got = await sqlite.range(prefix, revision=revision, limit=limit, start_after=after)
                assert got == expected, (revision, prefix, limit, after)
            key = rng.choice(keys)
            assert await sqlite.get(key, revision=revision) == await memory.get(
                key, revision=revision
            )
    finally:
        await memory.close()
        await sqlite.close()


async def test_a_failing_write_fails_alone_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await open_store(f"sqlite://{path}") as store:
        await store.create("/before", b"x")
        # Make SQLite itself refuse one key, as a full disk or an I/O error would.
        conn = sqlite3.connect(path)
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON log WHEN NEW.key = '/boom' "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        conn.commit()
        conn.close()
        results = await asyncio.gather(
            store.create("/ok1", b"1"),
            store.create("/boom", b"!"),
            store.create("/ok2", b"2"),
            return_exceptions=True,
        )
        assert isinstance(results[1], StoreUnavailable)
        assert "injected failure" in str(results[1])
        assert not isinstance(results[0], BaseException)
        assert not isinstance(results[2], BaseException)
        assert await store.get("/boom") is None
        assert await store.current_revision() == 3
        async with await store.watch("", start_revision=1) as watch:
            events = await collect(watch, 3)
        assert [e.kv.key for e in events] == ["/before", "/ok1", "/ok2"]
        assert [e.revision for e in events] == [1, 2, 3]


async def test_head_revision_survives_compacting_a_deletion_at_the_head(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await open_store(f"sqlite://{path}") as store:
        await store.create("/a", b"x")
        gone = await store.delete("/a")
        await store.compact(gone.revision)
        for _ in range(200):
            if _log_rows(path) == 0:
                break
            await asyncio.sleep(0.01)
        assert _log_rows(path) == 0
    async with await open_store(f"sqlite://{path}") as store:
        assert await store.current_revision() == gone.revision
        assert (await store.range("")).revision == gone.revision
        assert (await store.create("/b", b"y")).mod_revision == gone.revision + 1


async def test_reads_at_the_head_never_scan_history(tmp_path: Path) -> None:
    """The query plans of head reads search `current` and look log rows up by revision."""
    path = tmp_path / "state.db"
    async with await open_store(f"sqlite://{path}") as store:
        await store.create("/a", b"x")
    conn = sqlite3.connect(path)
    try:
        plans = {
            "get": _JOIN_CURRENT + " WHERE c.key = ?",
            "range": _JOIN_CURRENT + " WHERE c.key >= ? AND c.key < ? ORDER BY c.key LIMIT ?",
            "count": "SELECT COUNT(*) FROM current WHERE key >= ? AND key < ?",
        }
        for name, sql in plans.items():
            steps = [
                row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, ("/",) * sql.count("?"))
            ]
            assert not any(step.startswith("SCAN") for step in steps), (name, steps)
            assert steps[0].startswith("SEARCH c") or name == "count", steps
            if name != "count":
                assert "SEARCH l USING INTEGER PRIMARY KEY (rowid=?)" in steps, steps
    finally:
        conn.close()


def _writer(store: Store) -> _sqlite_writer.Writer:
    writer: _sqlite_writer.Writer = store._writer  # type: ignore[attr-defined]
    return writer


class _Spinner:
    """Keeps the event loop busy (a callback always ready) while it runs."""

    def __init__(self) -> None:
        self._running = False
        self._task: asyncio.Task[None] | None = None

    async def _spin(self) -> None:
        while self._running:  # noqa: ASYNC110 - busy on purpose: a callback always ready
            await asyncio.sleep(0)

    def start(self) -> None:
        if not self._running:
            self._running = True
            self._task = asyncio.create_task(self._spin())

    async def stop(self) -> None:
        self._running = False
        if self._task is not None:
            await self._task
            self._task = None


async def test_the_loop_commits_inline_busy_or_idle_while_commits_are_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the writer's own state decides here, whatever the disk's weather.
    monkeypatch.setattr(_sqlite_writer, "INLINE_COMMIT_BUDGET", 10.0)
    async with await open_store(f"sqlite://{tmp_path}/state.db") as store:
        writer = _writer(store)
        await store.create("/a", b"1")
        assert (writer.inline_batches, writer.thread_batches) == (1, 0)
        # Writes submitted in one loop iteration are one batch, one commit.
        await asyncio.gather(*(store.create(f"/b{i}", b"x") for i in range(32)))
        assert (writer.inline_batches, writer.thread_batches) == (2, 0)
        # A busy loop commits too: the thread would need the GIL the loop holds.
        spinner = _Spinner()
        spinner.start()
        try:
            kv = await store.create("/c", b"2")
        finally:
            await spinner.stop()
        assert (writer.inline_batches, writer.thread_batches) == (3, 0)
        assert await store.get("/c") == kv
        # While the thread has a batch, the loop's writes go to it too (revision order).
        with writer._lock:  # the thread takes its batch, then waits for the connection
            monkeypatch.setattr(_sqlite_writer, "INLINE_COMMIT_BUDGET", -1.0)
            first = asyncio.ensure_future(store.create("/d", b"3"))
            await asyncio.sleep(0.01)
            monkeypatch.setattr(_sqlite_writer, "INLINE_COMMIT_BUDGET", 10.0)
            second = asyncio.ensure_future(store.create("/e", b"4"))
            await asyncio.sleep(0.01)
            assert not first.done() and not second.done()
        kv_d, kv_e = await asyncio.gather(first, second)
        assert kv_d.mod_revision < kv_e.mod_revision
        assert writer.inline_batches == 3 and writer.thread_batches >= 1


async def test_slow_commits_go_to_the_thread_until_commits_are_fast_again(
    tmp_path: Path,
) -> None:
    async with await open_store(f"sqlite://{tmp_path}/state.db") as store:
        writer = _writer(store)
        writer._note_commit(0.05)  # a disk stall: over the budget at once
        assert writer.commit_seconds >= 0.05
        await store.create("/a", b"1")
        assert (writer.inline_batches, writer.thread_batches) == (0, 1)
        # Fast commits bring the average back under the budget, then the loop commits.
        for _ in range(100):
            writer._note_commit(0.0001)
        assert writer.commit_seconds <= _sqlite_writer.INLINE_COMMIT_BUDGET
        await store.create("/b", b"1")
        assert writer.inline_batches == 1


async def test_inline_and_thread_commits_interleave_in_revision_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers race while commits turn slow and fast at random (the thread's, then the
    loop's): every acknowledged write is one event, events come in contiguous revision
    order, and each carries the value its writer was told was written."""
    rng = random.Random(7)
    budgets = {True: 10.0, False: -1.0}
    monkeypatch.setattr(_sqlite_writer, "INLINE_COMMIT_BUDGET", budgets[True])
    async with await open_store(f"sqlite://{tmp_path}/state.db") as store:
        writer = _writer(store)
        watch = await store.watch("/", start_revision=1)
        acknowledged: dict[int, bytes] = {}

        async def write(worker: int) -> None:
            kv = await store.create(f"/k{worker}", b"%d-0" % worker)
            acknowledged[kv.mod_revision] = kv.value
            for n in range(1, 40):
                value = b"%d-%d" % (worker, n)
                kv = await store.update(kv.key, value, expected_mod_revision=kv.mod_revision)
                acknowledged[kv.mod_revision] = value
                if rng.random() < 0.5:
                    await asyncio.sleep(0)

        async def toggle() -> None:
            for _ in range(60):
                budget = budgets[rng.random() < 0.5]
                monkeypatch.setattr(_sqlite_writer, "INLINE_COMMIT_BUDGET", budget)
                await asyncio.sleep(rng.random() / 500)
            monkeypatch.setattr(_sqlite_writer, "INLINE_COMMIT_BUDGET", budgets[True])

        async def write_one(key: str, value: bytes) -> None:
            kv = await store.create(key, value)
            acknowledged[kv.mod_revision] = kv.value

        await asyncio.gather(toggle(), *(write(w) for w in range(10)))
        # How the race's commits fell depends on timing; whatever it was, a commit by the
        # thread is followed by ones the loop makes itself (retried while the thread's
        # queue drains or a checkpoint of its holds the connection).
        monkeypatch.setattr(_sqlite_writer, "INLINE_COMMIT_BUDGET", budgets[False])
        await write_one("/slow", b"slow")
        monkeypatch.setattr(_sqlite_writer, "INLINE_COMMIT_BUDGET", budgets[True])
        inline = writer.inline_batches
        extra = 1
        while writer.inline_batches == inline and extra < 50:
            await write_one(f"/fast-{extra}", b"fast")
            extra += 1
        head = await store.current_revision()
        assert head == 400 + extra
        events = await collect(watch, head)
        await watch.aclose()
        assert [e.revision for e in events] == list(range(1, head + 1))
        assert {e.revision: e.kv.value for e in events} == acknowledged
        assert writer.inline_batches > 0 and writer.thread_batches > 0


async def test_the_wal_is_checkpointed_by_the_thread_and_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writing connection never checkpoints at commit (an inline commit would do it
    on the event loop); the thread does, every CHECKPOINT_OPS operations, so the WAL
    file stays small under a long run of inline writes."""
    monkeypatch.setattr(_sqlite_writer, "INLINE_COMMIT_BUDGET", 10.0)  # inline, however slow
    path = tmp_path / "state.db"
    async with await open_store(f"sqlite://{path}") as store:
        writer = _writer(store)
        for i in range(3000):
            await store.create(f"/k{i}", b"v" * 1024)
        await asyncio.sleep(0.05)  # the last checkpoint, if one is due
        assert writer.inline_batches > 2500
        # 3,000 commits of ~3 WAL pages each would be ~36 MB without checkpoints.
        wal_size = _file_size(f"{path}-wal")
        assert wal_size < 12 * 1024 * 1024, wal_size
        assert writer._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0


def _file_size(path: str) -> int:
    return os.path.getsize(path)
