"""API server benchmark: `k3os server` over TLS on SQLite and on etcd, in one run.

Figures (one JSON line each), for each datastore D in {sqlite, etcd}:
  D/create/1         sequential creates (ConfigMaps of ~1 KiB), objects/s
  D/create/32        32 concurrent clients, objects/s
  D/get/1            sequential gets, objects/s
  D/list/1000        one list of 1,000 objects, ms (median)
  D/mutate/200       update latency p50/p99 at a fixed, open-loop 200 writes/s, ms
  D/watch/N          delivery latency p50/p99 of one change to N watchers, ms
  goal/...           the issue's goals on SQLite, with `met`
SQLite figures name the etcd figure of the same case as their baseline.
"""

from __future__ import annotations

import asyncio
import json
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

from _common import emit, machine, now, parse_args, percentile
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


@contextmanager
def api_server(workdir: Path, datastore: str) -> Iterator[tuple[str, ssl.SSLContext]]:
    port = free_port()
    cmd = [sys.executable, "-m", "k3os", "--log-level", "warning", "server",
           "--data-dir", str(workdir), "--https-listen-port", str(port),
           "--disable-controller-manager", "--disable-agent"]  # fmt: skip
    if datastore:
        cmd += ["--datastore-endpoint", datastore]
    log = (workdir.parent / f"{workdir.name}.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
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


async def measure(
    url: str, ctx: ssl.SSLContext, sizes: Sizes
) -> dict[str, tuple[float, dict[str, float]]]:
    out: dict[str, tuple[float, dict[str, float]]] = {}
    out["create/1"] = (await create_rate(url, ctx, "c1", sizes.create1, 1), {})
    out["create/32"] = (await create_rate(url, ctx, "c32", sizes.create32, 32), {})
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
    lat = await watch_latency(url, ctx, sizes.watchers, sizes.watch_writes)
    out[f"watch/{sizes.watchers}"] = (percentile(lat, 50), {"p99_ms": percentile(lat, 99)})
    return out


UNITS = {"create/1": ("rate", "objects/s"), "create/32": ("rate", "objects/s"),
         "get/1": ("rate", "objects/s"), "list/1000": ("time", "ms"),
         "mutate/200": ("p50", "ms")}  # fmt: skip


def main() -> None:
    args = parse_args(__doc__ or "")
    sizes = Sizes(args.quick)
    results: dict[str, dict[str, tuple[float, dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="k3os-bench-api-") as tmp:
        root = Path(tmp)
        (root / "etcd-data").mkdir()
        with (
            etcd_server(root / "etcd-data") as etcd_url,
            api_server(root / "etcd", etcd_url) as (url, ctx),
        ):
            results["etcd"] = asyncio.run(measure(url, ctx, sizes))
        with api_server(root / "sqlite", "") as (url, ctx):
            results["sqlite"] = asyncio.run(measure(url, ctx, sizes))
    for store in ("etcd", "sqlite"):
        for case, (value, extra) in results[store].items():
            metric, unit = UNITS.get(case, ("p50", "ms"))
            baseline = f"etcd/{case}" if store == "sqlite" else None
            emit(BENCH, f"{store}/{case}", metric, value, unit, baseline, **extra, **(
                machine() if case == "create/1" and store == "etcd" else {}))  # fmt: skip
    sqlite = results["sqlite"]
    watch_case = f"watch/{sizes.watchers}"
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
