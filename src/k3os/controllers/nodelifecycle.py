"""Node lifecycle: a node that stops heartbeating is marked unreachable, and unmarked when
its heartbeats come back.

A heartbeat is a change of the node's Lease in `kube-node-lease` (its renewTime) or of its
Ready condition's lastHeartbeatTime, timed on this controller's own clock when seen, as
upstream's node lifecycle controller does. When none has been seen for `grace_period`
(40 s by default, upstream's --node-monitor-grace-period), the node's conditions turn
Unknown (reason NodeStatusUnknown) and it gets the `node.kubernetes.io/unreachable` taint
with both effects upstream uses: NoSchedule (no new pods) and NoExecute (taint-based
eviction, with timeAdded). When heartbeats resume, the taints are removed and a Ready
condition this controller set to Unknown is put back to True until the node reports again.
"""

from __future__ import annotations

import logging
from typing import Any

from k3os.client import Controller, InformerSet, Kube, NotFoundError
from k3os.client.clock import Clock, SystemClock
from k3os.client.resources import LEASES, NODES
from k3os.controllers._objects import meta, rfc3339, set_condition

__all__ = [
    "DEFAULT_GRACE_PERIOD",
    "NODE_LEASE_NAMESPACE",
    "UNREACHABLE_TAINT",
    "NodeLifecycleController",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DEFAULT_GRACE_PERIOD = 40.0
NODE_LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
_UNKNOWN_REASON = "NodeStatusUnknown"
_UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
# The conditions a node agent reports; all turn Unknown together, as upstream does.
_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def _ready(node: Obj) -> Obj | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def _marked(node: Obj) -> bool:
    """The node carries what this controller sets on an unreachable node: a Ready condition
    it turned Unknown, or the unreachable taint."""
    if (_ready(node) or {}).get("reason") == _UNKNOWN_REASON:
        return True
    taints = (node.get("spec") or {}).get("taints") or []
    return any(t.get("key") == UNREACHABLE_TAINT for t in taints)


class NodeLifecycleController:
    def __init__(
        self,
        kube: Kube,
        informers: InformerSet,
        *,
        grace_period: float = DEFAULT_GRACE_PERIOD,
        clock: Clock | None = None,
    ) -> None:
        if grace_period <= 0:
            raise ValueError(f"node grace period must be positive, got {grace_period}")
        self.kube = kube
        self.grace_period = grace_period
        self.clock: Clock = clock or SystemClock()
        self.nodes = informers.get(NODES)
        self.leases = informers.get(LEASES, NODE_LEASE_NAMESPACE)
        self.last_heartbeat: dict[str, float] = {}  # node name -> when seen (monotonic)
        self.controller: Controller[str] = Controller("node-lifecycle", self.reconcile)
        self.nodes.add_handler(self._on_node)
        self.leases.add_handler(self._on_lease)

    @property
    def monitor_period(self) -> float:
        return min(5.0, self.grace_period / 4)

    def _seen(self, name: str) -> None:
        self.last_heartbeat[name] = self.clock.monotonic()
        self._check(name)

    def _check(self, name: str) -> None:
        """Queue the node only if there is something to write: it is unreachable, or it
        still carries this controller's marks. A heartbeat of a healthy node (a fleet's
        hundred Lease renewals a second) costs a dict update, not a reconcile."""
        node = self.nodes.cache.get(name)
        if node is not None and (self.unreachable(name) or _marked(node)):
            self.controller.queue.add(name)

    def _on_node(self, change: str, obj: Obj, old: Obj | None) -> None:
        name = str(meta(obj)["name"])
        if change == "DELETED":
            self.last_heartbeat.pop(name, None)
            return
        ready = _ready(obj) or {}
        # Our own Unknown write is no heartbeat; the agent's next report is.
        beat = ready.get("lastHeartbeatTime") if ready.get("reason") != _UNKNOWN_REASON else None
        old_beat = (_ready(old) or {}).get("lastHeartbeatTime") if old else None
        if name not in self.last_heartbeat or (beat and beat != old_beat):
            self._seen(name)

    def _on_lease(self, change: str, obj: Obj, old: Obj | None) -> None:
        if change == "DELETED":
            return
        renewed = (obj.get("spec") or {}).get("renewTime")
        before = ((old or {}).get("spec") or {}).get("renewTime")
        if old is None or renewed != before:
            self._seen(str(meta(obj)["name"]))

    async def run(self) -> None:
        """Workers, plus a monitor that looks at every node each `monitor_period`."""
        import asyncio

        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.controller.run(), name="node-lifecycle:workers")
            tg.create_task(self._monitor(), name="node-lifecycle:monitor")

    async def _monitor(self) -> None:
        await self.nodes.wait_synced()
        await self.leases.wait_synced()
        while True:
            for node in self.nodes.cache:
                self._check(str(meta(node)["name"]))
            await self.clock.sleep(self.monitor_period)

    def unreachable(self, name: str) -> bool:
        seen = self.last_heartbeat.get(name)
        if seen is None:
            return False
        return self.clock.monotonic() - seen > self.grace_period

    async def reconcile(self, name: str) -> float | None:
        node = self.nodes.cache.get(name)
        if node is None:
            return None
        if name not in self.last_heartbeat:
            self.last_heartbeat[name] = self.clock.monotonic()
        if self.unreachable(name):
            await self._mark_unreachable(node)
        else:
            await self._mark_reachable(node)
        return None

    async def _mark_unreachable(self, node: Obj) -> None:
        now = self.clock.now()
        status = dict(node.get("status") or {})
        conditions = list(status.get("conditions") or [])
        changed = False
        for ctype in _CONDITIONS:
            old = next((c for c in conditions if c.get("type") == ctype), None)
            if old is None and ctype != "Ready":
                continue
            if old is not None and old.get("status") == "Unknown":
                continue
            cond = {
                **(old or {}),
                "type": ctype,
                "status": "Unknown",
                "reason": _UNKNOWN_REASON,
                "message": _UNKNOWN_MESSAGE,
                "lastTransitionTime": rfc3339(now),
            }
            conditions = set_condition(conditions, cond, now)
            changed = True
        if changed:
            log.warning("node %s: no heartbeat for %.0fs, Ready=Unknown", meta(node)["name"],
                        self.grace_period)  # fmt: skip
            written = await self._write(node, {**status, "conditions": conditions}, "status")
            if written is None:
                return
            node = written
        taints = list((node.get("spec") or {}).get("taints") or [])
        have = {(t.get("key"), t.get("effect")) for t in taints}
        # Upstream stamps timeAdded on NoExecute taints only (eviction counts from it).
        missing = [
            {"key": UNREACHABLE_TAINT, "effect": effect}
            | ({"timeAdded": rfc3339(now)} if effect == "NoExecute" else {})
            for effect in ("NoSchedule", "NoExecute")
            if (UNREACHABLE_TAINT, effect) not in have
        ]
        if missing:
            await self._write(node, {**(node.get("spec") or {}), "taints": taints + missing}, "")

    async def _mark_reachable(self, node: Obj) -> None:
        now = self.clock.now()
        ready = _ready(node)
        if ready is not None and ready.get("reason") == _UNKNOWN_REASON:
            status = dict(node.get("status") or {})
            restored = {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "node heartbeats resumed",
                "lastHeartbeatTime": rfc3339(now),
            }
            conditions = set_condition(list(status.get("conditions") or []), restored, now)
            conditions = [
                c for c in conditions if c["type"] == "Ready" or c.get("reason") != _UNKNOWN_REASON
            ]
            log.info("node %s: heartbeats resumed", meta(node)["name"])
            written = await self._write(node, {**status, "conditions": conditions}, "status")
            if written is None:
                return
            node = written
        taints = list((node.get("spec") or {}).get("taints") or [])
        kept = [t for t in taints if t.get("key") != UNREACHABLE_TAINT]
        if len(kept) != len(taints):
            spec = {**(node.get("spec") or {}), "taints": kept}
            if not kept:
                spec.pop("taints")
            await self._write(node, spec, "")

    async def _write(self, node: Obj, part: Obj, subresource: str) -> Obj | None:
        """Replace the node's status (subresource "status") or spec; a conflict retries."""
        field = "status" if subresource else "spec"
        try:
            return await self.kube.replace(NODES, {**node, field: part}, subresource=subresource)
        except NotFoundError:
            return None
