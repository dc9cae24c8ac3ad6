"""In-process client benchmark: what a request of `k3os server`'s own controllers costs on
the client's side, before the API's app does anything.

The app answers at once (a ~1 KiB Node-like body after one turn of the loop), so the figures
are the client layers alone, in CPU time per request (the process's, one thread), for a
client certificate user as the controller manager is:
  transport/patch  `Kube` over `InProcessTransport` (an httpx2 request and response, a task
                   per request, the answer through a future and a queue); the baseline
  inline/patch     `InProcessKube`: the app run inline in the caller's task
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


if __name__ == "__main__":
    asyncio.run(main())
