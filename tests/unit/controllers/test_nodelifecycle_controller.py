"""The node lifecycle controller against an in-memory API: a healthy node's heartbeats
queue no work; a silent one is marked unreachable and unmarked when it beats again."""

from __future__ import annotations

from typing import Any

from k3os.client import InformerSet
from k3os.client.clock import FakeClock
from k3os.client.resources import LEASES, NODES
from k3os.controllers.nodelifecycle import UNREACHABLE_TAINT, NodeLifecycleController
from tests.unit.controllers.fleetfakes import FleetKube


class Env:
    def __init__(self) -> None:
        self.kube = FleetKube()
        self.clock = FakeClock()
        self.informers = InformerSet(self.kube)  # type: ignore[arg-type]
        self.ctrl = NodeLifecycleController(
            self.kube,  # type: ignore[arg-type]
            self.informers,
            grace_period=40,
            clock=self.clock,
        )
        self.renewals = 0

    @property
    def queued(self) -> int:
        return len(self.ctrl.controller.queue)

    def node(self, name: str) -> dict[str, Any]:
        return self.kube.peek(NODES, name)

    def beat(self, name: str) -> None:
        """The node renews its Lease and the watch delivers it."""
        self.renewals += 1
        lease = {
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "renewTime": f"2026-01-01T00:00:{self.renewals:02d}Z"},
        }
        self.kube.put(LEASES, lease)
        self.kube.sync(self.informers)

    async def work(self) -> None:
        queue = self.ctrl.controller.queue
        while len(queue):
            key = await queue.get()
            await self.ctrl.reconcile(key)
            queue.done(key)
            self.kube.sync(self.informers)

    def monitor(self) -> None:
        """One round of the controller's monitor: every node looked at."""
        for name in [n["metadata"]["name"] for n in self.ctrl.nodes.cache]:
            self.ctrl._check(name)


def ready(node: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


def taints(node: dict[str, Any]) -> list[str]:
    return sorted(t["effect"] for t in node.get("spec", {}).get("taints", [])
                  if t["key"] == UNREACHABLE_TAINT)  # fmt: skip


async def test_a_healthy_nodes_heartbeats_queue_nothing_and_a_silent_one_is_marked() -> None:
    env = Env()
    status = {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}
    env.kube.put(NODES, {"metadata": {"name": "n1"}, "status": status})
    env.kube.sync(env.informers)
    for _ in range(5):  # heartbeats and monitor rounds of a healthy node: no reconcile
        env.beat("n1")
        env.monitor()
        await env.clock.advance(10)
    assert env.queued == 0
    assert ready(env.node("n1"))["status"] == "True"

    await env.clock.advance(41)  # silent past the grace period: the monitor finds it
    env.monitor()
    assert env.queued == 1
    await env.work()
    node = env.node("n1")
    assert ready(node)["status"] == "Unknown" and taints(node) == ["NoExecute", "NoSchedule"]

    env.beat("n1")  # it beats again: marked, so queued, and unmarked
    assert env.queued == 1
    await env.work()
    node = env.node("n1")
    assert ready(node)["status"] == "True" and taints(node) == []
    env.beat("n1")
    env.monitor()
    assert env.queued == 0


async def test_a_mark_left_behind_is_taken_away_by_the_monitor() -> None:
    """A node still tainted unreachable while it beats (a write cut short): the next look
    queues it, and the taint goes."""
    env = Env()
    status = {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}
    spec = {"taints": [{"key": UNREACHABLE_TAINT, "effect": "NoSchedule"}]}
    env.kube.put(NODES, {"metadata": {"name": "n1"}, "spec": spec, "status": status})
    env.kube.sync(env.informers)
    env.beat("n1")
    env.monitor()
    assert env.queued == 1
    await env.work()
    assert taints(env.node("n1")) == []
