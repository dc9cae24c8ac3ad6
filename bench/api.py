"""API server benchmark: `k3os server` over TLS on SQLite and on etcd, in one run.

Figures (one JSON line each), for each datastore D in {sqlite, etcd}:
  D/create/1         sequential creates (ConfigMaps of ~1 KiB), objects/s
  D/create/32        32 concurrent connections from lean client processes, objects/s
  D/create/32-httpx  the same from one httpx client process (the client is the limit)
  D/get/1            sequential gets, objects/s
  D/list/1000        one list of 1,000 objects, ms (median)
  D/mutate/200       update latency p50/p99 at a fixed, open-loop 200 writes/s, ms
  D/watch/N          delivery latency p50/p99 of one change to N watchers (lean client
                     processes), ms
  D/<shape>/1        server CPU ms per write of each fleet write shape, sequential over one
                     lean connection (`_writecost.py`): a Node status strategic patch, a Node
                     annotation merge patch, a Lease PUT, an Event create, a Plan's status
                     merge patch (a custom resource), each beside a
                     ConfigMap create (`D/create-configmap/1`) of the same run; and the status
                     patch with N idle single-name Node watches open
  compare/...        with --compare REV: this tree's server and REV's on SQLite, alternating
  goal/...           the issue's goals on SQLite, with `met`
SQLite figures name the etcd figure of the same case as their baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

import _lean
import _writecost
from _common import emit, machine, now, percentile
from store import etcd_server, free_port

BENCH = "api"
VALUE = "v" * 1000
NS = "/api/v1/namespaces/default/configmaps"


class Sizes:
    def __init__(self, quick: bool) -> None:
        self.create1 = 100 if quick else 1000
        self.create32 = 320 if quick else 6400
        self.gets = 200 if quick else 5000
        self.lists = 2 if quick else 5
        self.mutate_seconds = 1.0 if quick else 10.0
        self.watchers = 50 if quick else 1000
        self.watch_writes = 5 if quick else 20
        self.write_ops = 100 if quick else 1000
        self.write_watchers = 50 if quick else 1000


@contextmanager
def api_server(
    workdir: Path, datastore: str, info: dict[str, int] | None = None, src: Path | None = None
) -> Iterator[tuple[str, ssl.SSLContext]]:
    """A `k3os server` on a free port; `info` receives its pid; `src` runs the k3os package
    from another source tree (an older commit's, to compare in one run)."""
    port = free_port()
    cmd = [sys.executable, "-m", "k3os", "--log-level", "warning", "server",
           "--data-dir", str(workdir), "--https-listen-port", str(port),
           "--disable-controller-manager", "--disable-agent"]  # fmt: skip
    if datastore:
        cmd += ["--datastore-endpoint", datastore]
    log = (workdir.parent / f"{workdir.name}.log").open("wb")
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if info is not None:
        info["pid"] = proc.pid
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            tls = workdir / "server" / "tls"
            if (workdir / "kubeconfig.yaml").exists():
                ctx = ssl.create_default_context(cafile=str(tls / "ca.crt"))
                ctx.load_cert_chain(tls / "admin.crt", tls / "admin.key")
                try:
                    if httpx.get(url + "/readyz", verify=ctx, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"k3os server did not start (see {log.name})")
            time.sleep(0.1)
        yield url, ctx
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()


def _body(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "data": {"v": VALUE}}


async def create_rate(
    url: str, ctx: ssl.SSLContext, prefix: str, count: int, clients: int
) -> float:
    per = count // clients

    async def client(c: int) -> None:
        async with httpx.AsyncClient(base_url=url, verify=ctx) as http:
            for i in range(per):
                r = await http.post(NS, json=_body(f"{prefix}-{c}-{i}"))
                r.raise_for_status()

    start = now()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return per * clients / (now() - start)


async def get_rate(url: str, ctx: ssl.SSLContext, names: list[str], count: int) -> float:
    async with httpx.AsyncClient(base_url=url, verify=ctx) as http:
        start = now()
        for i in range(count):
            (await http.get(f"{NS}/{names[i % len(names)]}")).raise_for_status()
        return count / (now() - start)


async def list_ms(url: str, ctx: ssl.SSLContext, repeats: int) -> tuple[float, int]:
    async with httpx.AsyncClient(base_url=url, verify=ctx, timeout=60) as http:
        times, items = [], 0
        for _ in range(repeats):
            start = now()
            r = await http.get(NS, params={"labelSelector": "bench=list"})
            times.append((now() - start) * 1000)
            items = len(r.json()["items"])
        return median(times), items


async def mutate_latency(url: str, ctx: ssl.SSLContext, seconds: float) -> list[float]:
    """Open loop: a write is started every 5 ms whatever the previous ones are doing,
    each to one of 100 objects in turn."""
    latencies: list[float] = []
    patch = {"content-type": "application/merge-patch+json"}

    async with httpx.AsyncClient(
        base_url=url, verify=ctx, limits=httpx.Limits(max_connections=64)
    ) as http:

        async def one(i: int) -> None:
            start = now()
            body = json.dumps({"data": {"i": str(i)}}).encode()
            target = f"{NS}/list-{i % 100}"
            (await http.patch(target, content=body, headers=patch)).raise_for_status()
            latencies.append((now() - start) * 1000)

        tasks = []
        begin = now()
        for i in range(int(seconds * 200)):
            delay = begin + i / 200 - now()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies


async def watch_latency(url: str, ctx: ssl.SSLContext, watchers: int, writes: int) -> list[float]:
    """Each write's delivery time to every watcher, from just before the write is sent."""
    sent: dict[str, float] = {}
    samples: list[float] = []
    ready = asyncio.Event()
    connected = 0
    limits = httpx.Limits(max_connections=watchers + 8)
    async with httpx.AsyncClient(base_url=url, verify=ctx, timeout=None, limits=limits) as http:
        rv = (await http.get(NS, params={"limit": "1"})).json()["metadata"]["resourceVersion"]

        async def follow() -> None:
            nonlocal connected
            params = {"watch": "1", "resourceVersion": rv, "labelSelector": "bench=watch"}
            async with http.stream("GET", NS, params=params) as resp:
                connected += 1
                if connected == watchers:
                    ready.set()
                seen = 0
                async for line in resp.aiter_lines():
                    if not line:
                        continue
                    name = json.loads(line)["object"]["metadata"]["name"]
                    samples.append((now() - sent[name]) * 1000)
                    seen += 1
                    if seen == writes:
                        return

        tasks = [asyncio.create_task(follow()) for _ in range(watchers)]
        await asyncio.wait_for(ready.wait(), 120)
        await asyncio.sleep(0.5)
        for i in range(writes):
            name = f"watch-{i}"
            sent[name] = now()
            body = _body(name)
            body["metadata"]["labels"] = {"bench": "watch"}  # type: ignore[index]
            (await http.post(NS, json=body)).raise_for_status()
            await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*tasks), 300)
    return samples


def _host_port(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("https://").rpartition(":")
    return host, int(port)


def _create_child(
    url: str, tls_dir: Path, prefix: str, per: int, clients: int
) -> tuple[float, float, float]:
    """`clients` connections each creating `per` objects; (start, end, CPU seconds)."""

    async def main() -> tuple[float, float]:
        ctx = _lean.tls_context(tls_dir)
        host, port = _host_port(url)
        conns = [await _lean.Conn.open(host, port, ctx) for _ in range(clients)]

        async def client(c: int, conn: _lean.Conn) -> None:
            for i in range(per):
                await conn.request("POST", NS, json.dumps(_body(f"{prefix}-{c}-{i}")).encode())

        start = now()
        await asyncio.gather(*(client(c, conn) for c, conn in enumerate(conns)))
        end = now()
        for conn in conns:
            conn.close()
        return start, end

    cpu = _lean.cpu_seconds()
    start, end = asyncio.run(main())
    return start, end, _lean.cpu_seconds() - cpu


def create_rate_lean(
    url: str, tls_dir: Path, prefix: str, count: int, clients: int, procs: int
) -> tuple[float, float]:
    """Creates/s by `clients` connections spread over `procs` lean client processes (they
    share the clock: perf_counter is CLOCK_MONOTONIC); also the clients' CPU seconds."""
    per = count // clients
    args = [(url, tls_dir, f"{prefix}-p{p}", per, clients // procs) for p in range(procs)]
    results = _lean.run_in_processes(_create_child, args)
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    return per * (clients // procs) * procs / (end - start), sum(r[2] for r in results)


def _watch_child(
    url: str, tls_dir: Path, path: str, watchers: int, writes: int, ready: Any
) -> tuple[list[tuple[str, float]], float]:
    """`watchers` watch streams; each arrival's (object name, time), and the CPU seconds."""

    async def main() -> list[tuple[str, float]]:
        ctx = _lean.tls_context(tls_dir)
        host, port = _host_port(url)
        loop = asyncio.get_running_loop()
        request = f"GET {path} HTTP/1.1\r\nHost: k3os\r\n\r\n".encode()
        streams = []
        for _ in range(watchers):
            stream = _lean.WatchStream(request, writes)
            await loop.create_connection(lambda s=stream: s, host, port, ssl=ctx)
            streams.append(stream)
        await asyncio.gather(*(s.headed for s in streams))
        ready.release()
        await asyncio.gather(*(s.done for s in streams))
        return [
            (json.loads(line)["object"]["metadata"]["name"], at)
            for s in streams
            for line, at in s.lines_with_times()
        ]

    cpu = _lean.cpu_seconds()
    arrivals = asyncio.run(main())
    return arrivals, _lean.cpu_seconds() - cpu


def watch_latency_lean(
    url: str, tls_dir: Path, watchers: int, writes: int, procs: int
) -> tuple[list[float], float]:
    """Each write's delivery time to every watcher (watchers spread over `procs` lean
    client processes), from just before the write is sent; also the clients' CPU."""
    ctx = _lean.tls_context(tls_dir)
    with httpx.Client(base_url=url, verify=ctx) as http:
        rv = http.get(NS, params={"limit": "1"}).json()["metadata"]["resourceVersion"]
    path = f"{NS}?watch=1&resourceVersion={rv}&labelSelector=bench%3Dwatch"
    mp = multiprocessing.get_context("fork")
    ready = mp.Semaphore(0)
    args = [(url, tls_dir, path, watchers // procs, writes, ready) for _ in range(procs)]
    collect = _lean.start_processes(_watch_child, args)
    for _ in range(procs):
        if not ready.acquire(timeout=120):
            raise RuntimeError("the watchers did not connect")
    sent: dict[str, float] = {}

    async def write() -> None:
        await asyncio.sleep(0.5)
        host, port = _host_port(url)
        conn = await _lean.Conn.open(host, port, ctx)
        for i in range(writes):
            body = _body(f"watch-{i}")
            body["metadata"]["labels"] = {"bench": "watch"}  # type: ignore[index]
            data = json.dumps(body).encode()
            sent[f"watch-{i}"] = now()
            await conn.request("POST", NS, data)
            await asyncio.sleep(0.05)
        conn.close()

    asyncio.run(write())
    results = collect()
    samples = [(at - sent[name]) * 1000 for arrivals, _ in results for name, at in arrivals]
    assert len(samples) == writes * (watchers // procs) * procs, len(samples)
    return samples, sum(cpu for _, cpu in results)


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_contended(
    url: str, tls_dir: Path, pid: int, sizes: Sizes, tag: str
) -> dict[str, tuple[float, dict[str, float]]]:
    """create/32 and watch/N with lean client processes, with server and client CPU."""
    out: dict[str, tuple[float, dict[str, float]]] = {}
    cpu = _cpu_of(pid)
    rate, client_cpu = create_rate_lean(url, tls_dir, f"c32{tag}", sizes.create32, 32, PROCS)
    extra = {"server_cpu_s": _cpu_of(pid) - cpu, "client_cpu_s": client_cpu, "procs": PROCS}
    out["create/32"] = (rate, extra)
    cpu = _cpu_of(pid)
    lat, client_cpu = watch_latency_lean(url, tls_dir, sizes.watchers, sizes.watch_writes, PROCS)
    extra = {"p99_ms": percentile(lat, 99), "server_cpu_s": _cpu_of(pid) - cpu,
             "client_cpu_s": client_cpu, "procs": PROCS}  # fmt: skip
    out[f"watch/{sizes.watchers}"] = (percentile(lat, 50), extra)
    with httpx.Client(base_url=url, verify=_lean.tls_context(tls_dir), timeout=60) as http:
        http.delete(NS, params={"labelSelector": "bench=watch"}).raise_for_status()
    return out


async def measure_httpx(
    url: str, ctx: ssl.SSLContext, sizes: Sizes
) -> dict[str, tuple[float, dict[str, float]]]:
    out: dict[str, tuple[float, dict[str, float]]] = {}
    out["create/1"] = (await create_rate(url, ctx, "c1", sizes.create1, 1), {})
    cpu = _lean.cpu_seconds()
    rate = await create_rate(url, ctx, "c32h", sizes.create32, 32)
    out["create/32-httpx"] = (rate, {"client_cpu_s": _lean.cpu_seconds() - cpu})
    names = [f"c1-0-{i}" for i in range(sizes.create1)]
    out["get/1"] = (await get_rate(url, ctx, names, sizes.gets), {})
    async with httpx.AsyncClient(base_url=url, verify=ctx) as http:
        for i in range(1000):
            body = _body(f"list-{i}")
            body["metadata"]["labels"] = {"bench": "list"}  # type: ignore[index]
            (await http.post(NS, json=body)).raise_for_status()
    ms, items = await list_ms(url, ctx, sizes.lists)
    assert items == 1000, items
    out["list/1000"] = (ms, {})
    lat = await mutate_latency(url, ctx, sizes.mutate_seconds)
    out["mutate/200"] = (percentile(lat, 50), {"p99_ms": percentile(lat, 99), "n": len(lat)})
    return out


def measure(
    url: str, ctx: ssl.SSLContext, workdir: Path, pid: int, sizes: Sizes, only: str = "",
    profile: Path | None = None,
) -> dict[str, tuple[float, dict[str, float]]]:  # fmt: skip
    tls = workdir / "server" / "tls"
    out: dict[str, tuple[float, dict[str, float]]] = {}
    if only != "writes":
        out.update(asyncio.run(measure_httpx(url, ctx, sizes)))
        out.update(measure_contended(url, tls, pid, sizes, ""))
    out.update(_writecost.measure(url, tls, pid, sizes.write_ops, sizes.write_watchers, profile))
    return out


PROCS = 2  # lean client processes for create/32 and watch/N (the machine has 2 cores)

UNITS = {"create/1": ("rate", "objects/s"), "create/32": ("rate", "objects/s"),
         "create/32-httpx": ("rate", "objects/s"),
         "get/1": ("rate", "objects/s"), "list/1000": ("time", "ms"),
         "mutate/200": ("p50", "ms")}  # fmt: skip


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI smoke runs")
    parser.add_argument("--compare", metavar="REV", help="also run REV's server on SQLite, "
                        "alternating with this tree's, for create/32 and watch/N")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (--compare)")
    parser.add_argument("--only", choices=["writes"], default="",
                        help="only the server-CPU-per-write cases")  # fmt: skip
    parser.add_argument("--write-ops", type=int, default=0, help="writes per write-cost case")
    parser.add_argument("--datastores", default="etcd,sqlite", help="comma-separated")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the SQLite server during "
                        "each write-cost case (DIR/<shape>.raw)")  # fmt: skip
    return parser.parse_args()


def compare(
    root: Path, rev: str, sizes: Sizes, rounds: int, only: str = ""
) -> dict[str, list[dict[str, tuple[float, dict[str, float]]]]]:
    """This tree's server and REV's, alternately on fresh SQLite data dirs (with
    `only="writes"`, the write-cost cases instead of create/32 and watch/N)."""
    old = root / "old-src"
    old.mkdir()
    archive = subprocess.run(["git", "archive", rev, "src"], check=True, capture_output=True,
                             cwd=Path(__file__).resolve().parent.parent).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    runs: dict[str, list[dict[str, tuple[float, dict[str, float]]]]] = {"new": [], rev: []}
    for r in range(rounds):
        for label, src in (("new", None), (rev, old / "src")):
            info: dict[str, int] = {}
            workdir = root / f"cmp-{label}-{r}"
            with api_server(workdir, "", info, src) as (url, _):
                tls = workdir / "server" / "tls"
                if only == "writes":
                    got = _writecost.measure(
                        url, tls, info["pid"], sizes.write_ops, sizes.write_watchers
                    )
                else:
                    got = measure_contended(url, tls, info["pid"], sizes, "")
                runs[label].append(got)
    return runs


def main() -> None:
    args = _args()
    sizes = Sizes(args.quick)
    sizes.write_ops = args.write_ops or sizes.write_ops
    stores = [d for d in ("etcd", "sqlite") if d in args.datastores.split(",")]
    results: dict[str, dict[str, tuple[float, dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="k3os-bench-api-") as tmp:
        root = Path(tmp)
        (root / "etcd-data").mkdir()
        info: dict[str, int] = {}
        if "etcd" in stores:
            with (
                etcd_server(root / "etcd-data") as etcd_url,
                api_server(root / "etcd", etcd_url, info) as (url, ctx),
            ):
                results["etcd"] = measure(url, ctx, root / "etcd", info["pid"], sizes, args.only)
        if "sqlite" in stores:
            profile = Path(args.profile) if args.profile else None
            if profile:
                profile.mkdir(parents=True, exist_ok=True)
            with api_server(root / "sqlite", "", info) as (url, ctx):
                results["sqlite"] = measure(
                    url, ctx, root / "sqlite", info["pid"], sizes, args.only, profile
                )
        runs = compare(root, args.compare, sizes, args.rounds, args.only) if args.compare else {}
    for store in stores:
        for case, (value, extra) in results[store].items():
            if case.split("/")[0] in _writecost.SHAPES:
                baseline = None if case == "create-configmap/1" else f"{store}/create-configmap/1"
                emit(BENCH, f"{store}/{case}", "server_cpu_ms_per_op", value, "ms", baseline,
                     **extra)  # fmt: skip
                continue
            metric, unit = UNITS.get(case, ("p50", "ms"))
            baseline = f"etcd/{case}" if store == "sqlite" and "etcd" in stores else None
            emit(BENCH, f"{store}/{case}", metric, value, unit, baseline, **extra, **(
                machine() if case == "create/1" and store == "etcd" else {}))  # fmt: skip
    for label, rounds in runs.items():
        for case in rounds[0]:
            metric, unit = UNITS.get(case, ("p50", "ms"))
            values = [r[case][0] for r in rounds]
            extra = {"rounds": values}
            if "p99_ms" in rounds[0][case][1]:
                extra["p99_ms_rounds"] = [r[case][1]["p99_ms"] for r in rounds]
            baseline = f"compare/{args.compare}/{case}" if label == "new" else None
            emit(BENCH, f"compare/{label}/{case}", metric, median(values), unit, baseline,
                 **extra)  # fmt: skip
    sqlite = results.get("sqlite", {})
    watch_case = f"watch/{sizes.watchers}"
    if "mutate/200" not in sqlite:
        return
    goals = [
        ("mutate-p99-ms", sqlite["mutate/200"][1]["p99_ms"], 20.0, "sqlite/mutate/200", False),
        ("create32-per-s", sqlite["create/32"][0], 1500.0, "sqlite/create/32", True),
        ("watch-p99-ms", sqlite[watch_case][1]["p99_ms"], 100.0, f"sqlite/{watch_case}", False),
    ]
    for name, value, target, baseline, higher in goals:
        met = value >= target if higher else value <= target
        emit(BENCH, f"goal/{name}", "value", value, "", baseline, target=target, met=met)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
