"""A kwok-like pod status faker for simulated nodes: pods bound to a node are marked
Running and Ready, and a graceful deletion (what an eviction or a drain starts) is finished
at once, as a kubelet would after stopping the containers. Without it, pods on simulated
nodes would never leave and every drain would wait for its timeout.

Run: `python -m k3os.sim.kubelet --kubeconfig FILE [--nodes a,b,...]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from k3os.client import ClientError, ConflictError, Kube, NotFoundError, connect_kubeconfig
from k3os.client.informer import Informer
from k3os.client.resources import PODS

__all__ = ["PodFaker", "main"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodFaker:
    def __init__(self, kube: Kube, nodes: set[str] | None = None) -> None:
        self.kube = kube
        self.nodes = nodes
        self.pods = Informer(kube, PODS)
        self.wake = asyncio.Event()
        self.pods.add_handler(lambda *_: self.wake.set())

    def _ours(self, pod: Obj) -> bool:
        node = (pod.get("spec") or {}).get("nodeName")
        return bool(node) and (self.nodes is None or node in self.nodes)

    async def step(self) -> None:
        for pod in self.pods.cache:
            if self._ours(pod):
                try:
                    await self.play(pod)
                except ClientError as e:
                    log.debug("pod %s: %s", (pod.get("metadata") or {}).get("name"), e)

    async def play(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        if meta.get("deletionTimestamp"):
            with contextlib.suppress(NotFoundError, ConflictError):
                await self.kube.delete(PODS, name, namespace, grace_period=0)
            return
        if (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed"):
            return
        now = _now()
        status = {
            "phase": "Running",
            "startTime": now,
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": now}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
        }
        with contextlib.suppress(NotFoundError):
            await self.kube.patch(
                PODS, name, {"status": status}, namespace=namespace, subresource="status"
            )

    async def run(self) -> None:
        watcher = asyncio.create_task(self.pods.run(), name="pod-faker:informer")
        try:
            await self.pods.wait_synced()
            while True:
                self.wake.clear()
                await self.step()
                await self.wake.wait()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k3os.sim.kubelet")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--nodes", default="", help="Comma-separated node names (default: all).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    nodes = {n for n in args.nodes.split(",") if n} or None

    async def go() -> None:
        kube = connect_kubeconfig(args.kubeconfig, field_manager="k3os-sim-kubelet")
        task = asyncio.create_task(PodFaker(kube, nodes).run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            await kube.aclose()

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
