"""Store benchmark: the SQLite driver and etcd, beside a raw SQLite loop, in one run.

Figures (one JSON line each):
  raw-sqlite/put/1           one INSERT per transaction, WAL, same `synchronous` setting
  {sqlite,etcd}/put/1        sequential creates through the Store API, 1 KiB values
                             (raw, SQLite and etcd take turns in slices of 100 writes)
  {sqlite,etcd}/put/32       32 concurrent writers
  {sqlite,etcd}/get/1        sequential gets of existing keys
  {sqlite,etcd}/range/1000   one range read of a 1,000-key prefix
  {sqlite,etcd}/watch/100    delivery latency p50/p99 to 100 watchers of one prefix
  {raw-sqlite,sqlite}/put/1-sync-off
                             raw and SQLite again with synchronous=OFF (no fsync): the time
                             per write that is CPU and thread hand-offs, robust to the disk
                             (`cpu_us`: the process's CPU time per write, all threads)
  sqlite/put-latency/1[-while-compacting]
                             single-writer put latency alone, and while compaction
                             removes a history of 100,000 superseded rows
  goal/...                   the issue's goals as ratios, with `met` (for range and watch
                             the ratio is etcd's time over SQLite's: > 1 means SQLite is faster);
                             goal/sqlite-put-1-overhead is informational: the store's time per
                             write beyond the raw INSERT's at synchronous=OFF (at most 25 us)

etcd is Debian's /usr/bin/etcd, started here on free loopback ports in a temp dir.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, machine, now, parse_args, percentile
from k3os.store import Store, StoreOptions, open_store

BENCH = "store"
VALUE = b"v" * 1024
SYNC = "FULL"
#: Writes per slice when raw and SQLite alternate within a round.
SLICE = 100


class Sizes:
    def __init__(self, quick: bool) -> None:
        self.rounds = 2 if quick else 5
        self.put1 = 50 if quick else 1000  # per round
        self.put1_off = 200 if quick else 2000  # per round, at synchronous=OFF
        self.put32 = 320 if quick else 6400  # per round
        self.gets = 300 if quick else 20000
        self.range_keys = 1000
        self.ranges = 3 if quick else 50
        self.watchers = 10 if quick else 100
        self.watch_writes = 20 if quick else 300
        self.churn = 2000 if quick else 100_000  # history that compaction then removes
        self.probes = 50 if quick else 1000


class RawSqlite:
    """The baseline: a bare loop, one INSERT per transaction, WAL, same `synchronous`."""

    def __init__(self, path: Path, synchronous: str = SYNC) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(f"PRAGMA synchronous = {synchronous}")
        self.conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB)")
        self.written = 0

    def put_time(self, count: int) -> float:
        start = now()
        for _ in range(count):
            self.written += 1
            self.conn.execute("BEGIN")
            self.conn.execute("INSERT INTO kv VALUES (?, ?)", (f"/raw/{self.written:08}", VALUE))
            self.conn.execute("COMMIT")
        return now() - start


async def sliced_put1(
    raw: RawSqlite, stores: dict[str, Store], prefix: str, count: int, cpu: dict[str, float]
) -> dict[str, float]:
    """Seconds taken by `count` raw commits and by `count` sequential creates in each
    store, run in turns of `SLICE` writes (raw, then each store, again and again), so that
    every contender meets the same disk weather. The process's CPU seconds (all threads)
    during each contender's turns are added to `cpu`."""
    took = dict.fromkeys(["raw", *stores], 0.0)
    for name in took:
        cpu.setdefault(name, 0.0)
    for first in range(0, count, SLICE):
        size = min(SLICE, count - first)
        start_cpu = time.process_time()
        took["raw"] += raw.put_time(size)
        cpu["raw"] += time.process_time() - start_cpu
        for name, store in stores.items():
            start, start_cpu = now(), time.process_time()
            for i in range(first, first + size):
                await store.create(f"{prefix}{i:08}", VALUE)
            took[name] += now() - start
            cpu[name] += time.process_time() - start_cpu
    return took


async def put_rate(store: Store, prefix: str, count: int, writers: int) -> float:
    per_writer = count // writers

    async def writer(w: int) -> None:
        for i in range(per_writer):
            await store.create(f"{prefix}{w:03}/{i:08}", VALUE)

    start = now()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return per_writer * writers / (now() - start)


async def get_rate(store: Store, keys: list[str], count: int) -> float:
    start = now()
    for i in range(count):
        await store.get(keys[i % len(keys)])
    return count / (now() - start)


async def range_time(store: Store, prefix: str, keys: int, repeats: int) -> tuple[float, float]:
    for i in range(keys):
        await store.create(f"{prefix}{i:06}", VALUE)
    samples = []
    for _ in range(repeats):
        start = now()
        result = await store.range(prefix)
        samples.append(now() - start)
        assert len(result.items) == keys
    return percentile(samples, 50) * 1000, repeats / sum(samples)


async def watch_latency(store: Store, prefix: str, watchers: int, writes: int) -> list[float]:
    latencies: list[float] = []
    watches = [await store.watch(prefix) for _ in range(watchers)]

    async def follow(index: int) -> None:
        watch = watches[index]
        for _ in range(writes):
            event = await watch.__anext__()
            latencies.append(now() - float(event.kv.value.decode()))

    followers = [asyncio.create_task(follow(i)) for i in range(watchers)]
    await asyncio.sleep(0.2)
    for i in range(writes):
        await store.create(f"{prefix}{i:06}", repr(now()).encode())
        await asyncio.sleep(0.002)
    await asyncio.wait_for(asyncio.gather(*followers), 120)
    for watch in watches:
        await watch.aclose()
    return latencies


async def measure_writes(
    sizes: Sizes, raw: RawSqlite, stores: dict[str, Store]
) -> dict[str, list[float]]:
    """Put rates in rounds; within a round the single writers take turns in slices and
    the 32-writer runs follow each other, so that the disk's mood on a shared machine hits
    every contender alike. Each round writes new keys."""
    samples: dict[str, list[float]] = {}
    for r in range(-1, sizes.rounds):  # round -1 warms every file up and is not counted
        took = await sliced_put1(raw, stores, f"/bench/p1/{r}/000/", sizes.put1, {})
        rates = {
            f"{name}/put/1": sizes.put1 / seconds
            for name, seconds in {"raw-sqlite": took.pop("raw"), **took}.items()
        }
        for name, store in stores.items():
            rate = await put_rate(store, f"/bench/p32/{r}/", sizes.put32, 32)
            rates[f"{name}/put/32"] = rate
        if r >= 0:
            for case, rate in rates.items():
                samples.setdefault(case, []).append(rate)
    return samples


async def measure_overhead(sizes: Sizes, work: Path) -> None:
    """The store's fixed cost per write: the single-writer pair again, both sides at
    synchronous=OFF (no fsync, so the disk's weather is out), in its own files."""
    raw = RawSqlite(work / "raw-off.db", "OFF")
    # OFF is not a setting the store offers; it is used here only to leave the disk out.
    options = StoreOptions(compact_interval=0, synchronous="OFF")  # type: ignore[arg-type]
    store = await open_store(f"sqlite://{work}/state-off.db", options)
    per_write: dict[str, list[float]] = {"raw": [], "sqlite": []}
    cpu_per_write: dict[str, list[float]] = {"raw": [], "sqlite": []}
    try:
        for r in range(-1, sizes.rounds):
            cpu: dict[str, float] = {}
            took = await sliced_put1(raw, {"sqlite": store}, f"/off/{r}/", sizes.put1_off, cpu)
            if r >= 0:
                for name, seconds in took.items():
                    per_write[name].append(seconds / sizes.put1_off * 1e6)
                    cpu_per_write[name].append(cpu[name] / sizes.put1_off * 1e6)
    finally:
        await store.close()
        raw.conn.close()
    for name, side, baseline in (
        ("raw-sqlite", "raw", None),
        ("sqlite", "sqlite", "raw-sqlite/put/1-sync-off"),
    ):
        emit(
            BENCH,
            f"{name}/put/1-sync-off",
            "time per write",
            median(per_write[side]),
            "us",
            baseline,
            rounds=[round(v, 1) for v in per_write[side]],
            cpu_us=round(median(cpu_per_write[side]), 1),
        )

    def beyond_raw(samples: dict[str, list[float]]) -> float:
        return median(s - r for s, r in zip(samples["sqlite"], samples["raw"], strict=True))

    overhead = beyond_raw(per_write)
    emit(
        BENCH,
        "goal/sqlite-put-1-overhead",
        "time per write beyond the raw INSERT's",
        overhead,
        "us",
        "raw-sqlite/put/1-sync-off",
        target=25,
        met=overhead <= 25,
        at_most=True,
        informational=True,
        cpu_us=round(beyond_raw(cpu_per_write), 1),
    )


async def measure_reads(
    name: str, store: Store, sizes: Sizes, baselines: dict[str, str]
) -> dict[str, float]:
    figures: dict[str, float] = {}

    def put(case: str, metric: str, value: float, unit: str, **extra: object) -> None:
        figures[case] = value
        emit(BENCH, f"{name}/{case}", metric, value, unit, baselines.get(case), **extra)

    keys = [f"/bench/p1/0/000/{i:08}" for i in range(sizes.put1)]  # round 0's
    put("get/1", "rate", await get_rate(store, keys, sizes.gets), "ops/s")
    p50, per_s = await range_time(store, "/bench/range/", sizes.range_keys, sizes.ranges)
    put("range/1000", "p50", p50, "ms", ranges_per_s=round(per_s, 1))
    latencies = await watch_latency(store, "/bench/watch/", sizes.watchers, sizes.watch_writes)
    put(
        f"watch/{sizes.watchers}",
        "p50",
        percentile(latencies, 50) * 1000,
        "ms",
        p99_ms=round(percentile(latencies, 99) * 1000, 3),
        deliveries=len(latencies),
    )
    figures["watch/p99"] = percentile(latencies, 99) * 1000
    return figures


async def put_latencies(store: Store, prefix: str, count: int) -> list[float]:
    samples = []
    for i in range(count):
        start = now()
        await store.create(f"{prefix}{i:08}", VALUE)
        samples.append(now() - start)
    return samples


async def measure_compaction(sqlite: Store, sizes: Sizes) -> None:
    """Single-writer put latency, first alone, then while compaction removes a large
    history in the background: compaction must not hold writers up."""
    kvs = [await sqlite.create(f"/bench/churn/{i:03}", VALUE) for i in range(100)]

    async def churn(index: int) -> None:
        kv = kvs[index]
        for _ in range(sizes.churn // 100):
            kv = await sqlite.update(kv.key, VALUE, expected_mod_revision=kv.mod_revision)

    await asyncio.gather(*(churn(i) for i in range(100)))
    alone = await put_latencies(sqlite, "/bench/lat/alone/", sizes.probes)
    await sqlite.compact(await sqlite.current_revision())
    during = await put_latencies(sqlite, "/bench/lat/compacting/", sizes.probes)
    writer = getattr(sqlite, "_writer", None)
    still_compacting = writer is not None and writer._cursor < writer.compact_revision
    for case, samples, baseline in (
        ("sqlite/put-latency/1", alone, None),
        ("sqlite/put-latency/1-while-compacting", during, "sqlite/put-latency/1"),
    ):
        emit(
            BENCH,
            case,
            "p50",
            percentile(samples, 50) * 1000,
            "ms",
            baseline,
            p99_ms=round(percentile(samples, 99) * 1000, 3),
            max_ms=round(max(samples) * 1000, 3),
            **(
                {"history_rows": sizes.churn, "still_compacting_at_end": still_compacting}
                if baseline
                else {}
            ),
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def etcd_server(workdir: Path) -> Iterator[str]:
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    binary = shutil.which("etcd") or "/usr/bin/etcd"
    log = (workdir / "etcd.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            "--name=bench",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=bench={peer}",
            "--log-level=error",
            "--logger=zap",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(client + "/health", timeout=1) as r:
                    if b'"true"' in r.read():
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("etcd did not start") from None
                time.sleep(0.05)
        yield "etcd://" + client.removeprefix("http://")
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def goal(case: str, value: float, target: float, baseline: str) -> None:
    emit(BENCH, f"goal/{case}", "ratio", value, "x", baseline, target=target, met=value >= target)


async def main() -> None:
    args = parse_args(__doc__ or "")
    sizes = Sizes(args.quick)
    options = StoreOptions(compact_interval=0, synchronous=SYNC)
    watch_case = f"watch/{sizes.watchers}"
    baselines = {
        "get/1": "etcd/get/1",
        "range/1000": "etcd/range/1000",
        watch_case: f"etcd/{watch_case}",
    }
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        work = Path(tmp)
        with etcd_server(work) as etcd_url:
            etcd = await open_store(etcd_url, options)
            sqlite = await open_store(f"sqlite://{work}/state.db", options)
            try:
                raw = RawSqlite(work / "raw.db")
                writes = await measure_writes(sizes, raw, {"sqlite": sqlite, "etcd": etcd})
                # Before the compaction probe, whose background work would be counted.
                await measure_overhead(sizes, work)
                etcd_figures = await measure_reads("etcd", etcd, sizes, {})
                figures = await measure_reads("sqlite", sqlite, sizes, baselines)
                await measure_compaction(sqlite, sizes)
            finally:
                await sqlite.close()
                await etcd.close()
    write_baselines = {
        "raw-sqlite/put/1": None,
        "sqlite/put/1": "raw-sqlite/put/1",
        "sqlite/put/32": "raw-sqlite/put/1",
        "etcd/put/1": None,
        "etcd/put/32": None,
    }
    for case, baseline in write_baselines.items():
        extra: dict[str, object] = {"rounds": [round(v, 1) for v in writes[case]]}
        if case.startswith("raw"):
            extra.update(synchronous=SYNC, **machine())
        emit(BENCH, case, "rate", median(writes[case]), "ops/s", baseline, **extra)

    def ratio(case: str, against: str) -> float:
        """The median of the per-round ratios (each round's pair ran back to back)."""
        return median([a / b for a, b in zip(writes[case], writes[against], strict=True)])

    goal("sqlite-put-1-vs-raw", ratio("sqlite/put/1", "raw-sqlite/put/1"), 0.7, "raw-sqlite/put/1")
    goal(
        "sqlite-put-32-vs-raw", ratio("sqlite/put/32", "raw-sqlite/put/1"), 3.0, "raw-sqlite/put/1"
    )
    for case in ("put/1", "put/32"):
        goal(f"sqlite-vs-etcd-{case}", ratio(f"sqlite/{case}", f"etcd/{case}"), 1.0, f"etcd/{case}")
    goal("sqlite-vs-etcd-get/1", figures["get/1"] / etcd_figures["get/1"], 1.0, "etcd/get/1")
    goal(
        "sqlite-vs-etcd-range/1000-speed",
        etcd_figures["range/1000"] / figures["range/1000"],
        1.0,
        "etcd/range/1000",
    )
    goal(
        f"sqlite-vs-etcd-{watch_case}-p99-speed",
        etcd_figures["watch/p99"] / figures["watch/p99"],
        1.0,
        f"etcd/{watch_case}",
    )


if __name__ == "__main__":
    asyncio.run(main())
