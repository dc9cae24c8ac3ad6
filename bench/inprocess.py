"""In-process client benchmark: what a request of `k3os server`'s own controllers costs on
the client's side, before the API's app does anything.

The app answers at once (a ~1 KiB Node-like body after one turn of the loop), so the figures
are the client layers alone, in CPU time per request (the process's, one thread), for a
client certificate user as the controller manager is:
  transport/patch  `Kube` over `InProcessTransport` (an httpx2 request and response, a task
                   per request, the answer through a future and a queue); the baseline
  inline/patch     `InProcessKube`: the app run inline in the caller's task
and per watch event, the app streaming a watch of ~1 KiB Node events (as the server's
own informers receive every Node, Lease and Event change):
  transport/watch  `Kube.watch` over `InProcessTransport` (an httpx2 streamed response,
                   its lines decoded to text); the baseline
  inline/watch     `InProcessKube.watch`: the app's chunks split into byte lines
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, machine, parse_args
from k3os.apis.jsonbytes import parse
from k3os.client.inprocess import InProcessKube, InProcessTransport
from k3os.client.kube import Kube
from k3os.client.kubeconfig import ClientConfig, Cluster, User
from k3os.client.resources import NODES
from k3os.security.pki import ensure_ca, issue, save_pair

BENCH = "inprocess"
BODY = json.dumps({"kind": "Node", "apiVersion": "v1",
                   "metadata": {"name": "n", "labels": {f"example.com/k{i}": "v" * 20
                                                        for i in range(30)}}}).encode()  # fmt: skip
HEADERS = [(b"content-type", b"application/json")]


async def app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await asyncio.sleep(0)  # the API's app waits for its store at least once
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


EVENT = json.dumps({"type": "MODIFIED", "object": json.loads(BODY)}).encode() + b"\n"


async def watch_app(scope: Any, receive: Any, send: Any) -> None:
    """A watch of `?limit=N` events, one chunk each, as the API's watch streams them."""
    await receive()
    count = int(dict(p.split("=") for p in scope["query_string"].decode().split("&"))["limit"])
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    for i in range(count):
        if i % 64 == 0:
            await asyncio.sleep(0)  # events come in bursts between the store's deliveries
        await send({"type": "http.response.body", "body": EVENT, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def cpu_per_event(kube: Kube, n: int) -> float:
    async def one_watch(count: int) -> None:
        seen = 0
        # `limit` only tells this app how many events to send (a real watch has none).
        async with kube._lines(NODES.path(), {"watch": "true", "limit": str(count)},
                               {"Accept": "application/json"}, 30) as lines:  # fmt: skip
            async for line in lines:
                if line.strip():
                    parse(line)
                    seen += 1
        assert seen == count, seen

    await one_watch(min(200, n))  # warm up
    start = time.process_time()
    await one_watch(n)
    return (time.process_time() - start) / n * 1e6


async def cpu_per_request(kube: Kube, n: int) -> float:
    patch = {"metadata": {"labels": {"example.com/k0": "w"}}}
    for _ in range(min(200, n)):  # warm up
        await kube.patch(NODES, "n", patch)
    start = time.process_time()
    for _ in range(n):
        await kube.patch(NODES, "n", patch)
    return (time.process_time() - start) / n * 1e6


async def main() -> None:
    args = parse_args(__doc__ or "")
    n = 500 if args.quick else 5000
    with tempfile.TemporaryDirectory(prefix="k3os-bench-inprocess-") as tmp:
        config = controller_config(Path(tmp))
        await measure(config, n)


def controller_config(tmp: Path) -> ClientConfig:
    """A client certificate user, as the server's controller manager is (its requests carry
    no credentials of their own: the app gives them their identity)."""
    ca = ensure_ca(tmp, "bench-ca")
    cert, key = issue(ca, "k3os-controller-manager", client=True)
    assert key is not None
    pair = save_pair(cert, key, tmp / "cm.crt", tmp / "cm.key")
    user = User(client_cert=str(pair.cert_path), client_key=str(pair.key_path))
    return ClientConfig(Cluster(server="https://127.0.0.1:6443",
                                certificate_auth=str(ca.cert_path)), user)  # fmt: skip


async def measure(config: ClientConfig, n: int) -> None:
    rounds: dict[str, list[float]] = {"transport": [], "inline": []}
    for _ in range(3):  # alternating rounds; the median is reported
        async with Kube(config, transport=InProcessTransport(app)) as kube:
            rounds["transport"].append(await cpu_per_request(kube, n))
        async with InProcessKube(config, app) as kube:
            rounds["inline"].append(await cpu_per_request(kube, n))
    for name, values in rounds.items():
        baseline = None if name == "transport" else "transport/patch"
        extra = machine() if name == "transport" else {}
        emit(BENCH, f"{name}/patch", "cpu_per_request", sorted(values)[1], "µs", baseline,
             requests=n, rounds=[round(v, 1) for v in values], **extra)  # fmt: skip
    events: dict[str, list[float]] = {"transport": [], "inline": []}
    for _ in range(3):
        async with Kube(config, transport=InProcessTransport(watch_app)) as kube:
            events["transport"].append(await cpu_per_event(kube, 4 * n))
        async with InProcessKube(config, watch_app) as kube:
            events["inline"].append(await cpu_per_event(kube, 4 * n))
    for name, values in events.items():
        baseline = None if name == "transport" else "transport/watch"
        emit(BENCH, f"{name}/watch", "cpu_per_event", sorted(values)[1], "µs", baseline,
             events=4 * n, rounds=[round(v, 1) for v in values])  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
