"""Namespace lifecycle: a deleted namespace empties, then disappears.

Deleting a namespace marks it (phase Terminating, deletionTimestamp) and the API keeps it
while `spec.finalizers` holds `kubernetes`. This controller then deletes every namespaced
object in it, of every kind discovery lists, keeps its status conditions saying what is
left, and once nothing is left removes `kubernetes` through the `finalize` subresource;
the API deletes the namespace when its last finalizer is gone. Objects with finalizers of
their own (foreground deletion, other controllers) are waited for, not forced.
"""

from __future__ import annotations

import logging
from typing import Any

from k3os.client import (
    ClientError,
    Controller,
    Informer,
    Kube,
    NotFoundError,
    TemporaryError,
)
from k3os.client.clock import Clock, SystemClock
from k3os.client.errors import ConflictError
from k3os.client.resources import NAMESPACES, ResourceType
from k3os.controllers._objects import is_deleting, meta, set_condition

__all__ = ["NAMESPACE_FINALIZER", "NamespaceController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NAMESPACE_FINALIZER = "kubernetes"


class NamespaceController:
    def __init__(
        self,
        kube: Kube,
        namespaces: Informer,
        *,
        clock: Clock | None = None,
        recheck: float = 1.0,
    ) -> None:
        self.kube = kube
        self.namespaces = namespaces
        self.clock: Clock = clock or SystemClock()
        self.recheck = recheck
        self.controller: Controller[str] = Controller("namespace", self.reconcile, workers=2)
        namespaces.add_handler(self._on_change)

    def _on_change(self, change: str, obj: Obj, old: Obj | None) -> None:
        if change != "DELETED" and is_deleting(obj):
            self.controller.queue.add(str(meta(obj)["name"]))

    async def run(self) -> None:
        await self.controller.run()

    async def reconcile(self, name: str) -> float | None:
        ns = self.namespaces.cache.get(name)
        if ns is None or not is_deleting(ns):
            return None
        if NAMESPACE_FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return None
        try:
            types = [
                rt
                for rt in await self.kube.discover()
                if rt.namespaced and {"list", "delete"} <= rt.verbs
            ]
        except ClientError as e:
            await self._conditions(ns, discovery_error=str(e))
            raise TemporaryError(f"discovery failed: {e}", delay=self.recheck) from e
        remaining: dict[str, int] = {}
        waiting: set[str] = set()
        for rt in types:
            left = await self._delete_all(rt, name, waiting)
            if left:
                remaining[str(rt)] = left
        await self._conditions(ns, remaining=remaining, waiting=waiting)
        if remaining:
            return self.recheck
        await self._finalize(ns)
        return None

    async def _delete_all(self, rt: ResourceType, namespace: str, waiting: set[str]) -> int:
        try:
            listing = await self.kube.list(rt, namespace)
        except NotFoundError:
            return 0
        for obj in listing.items:
            m = meta(obj)
            if m.get("deletionTimestamp"):
                waiting.update(str(f) for f in m.get("finalizers") or [])
                continue
            try:
                await self.kube.delete(
                    rt, str(m["name"]), namespace, propagation="Background", uid=str(m["uid"])
                )
            except (NotFoundError, ConflictError):
                continue
        return len(listing.items)

    async def _conditions(
        self,
        ns: Obj,
        *,
        remaining: dict[str, int] | None = None,
        waiting: set[str] | None = None,
        discovery_error: str = "",
    ) -> None:
        now = self.clock.now()
        status = dict(ns.get("status") or {})
        conditions = list(status.get("conditions") or [])
        wanted = [
            (
                "NamespaceDeletionDiscoveryFailure",
                bool(discovery_error),
                "DiscoveryFailed" if discovery_error else "ResourcesDiscovered",
                discovery_error or "All resources successfully discovered",
            )
        ]
        if remaining is not None:
            content = ", ".join(f"{k} has {v} resource instances" for k, v in remaining.items())
            wanted.append(
                (
                    "NamespaceContentRemaining",
                    bool(remaining),
                    "SomeResourcesRemain" if remaining else "ContentDeleted",
                    f"Some resources are remaining: {content}"
                    if remaining
                    else "All content successfully removed",
                )
            )
            fins = ", ".join(sorted(waiting or ()))
            wanted.append(
                (
                    "NamespaceFinalizersRemaining",
                    bool(waiting),
                    "SomeFinalizersRemain" if waiting else "ContentHasNoFinalizers",
                    f"Some content in the namespace has finalizers remaining: {fins}"
                    if waiting
                    else "All content-preserving finalizers finished",
                )
            )
        for ctype, on, reason, message in wanted:
            cond = {
                "type": ctype,
                "status": "True" if on else "False",
                "reason": reason,
                "message": message,
            }
            conditions = set_condition(conditions, cond, now)
        new_status = {**status, "phase": "Terminating", "conditions": conditions}
        if _same(new_status, status):
            return
        try:
            await self.kube.replace(NAMESPACES, {**ns, "status": new_status}, subresource="status")
        except (ConflictError, NotFoundError):
            return  # the next pass writes them

    async def _finalize(self, ns: Obj) -> None:
        spec = dict(ns.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != NAMESPACE_FINALIZER]
        try:
            await self.kube.replace(NAMESPACES, {**ns, "spec": spec}, subresource="finalize")
        except NotFoundError:
            return
        log.info("namespace %s emptied and finalized", meta(ns)["name"])


def _same(a: Obj, b: Obj) -> bool:
    def strip(s: Obj) -> list[tuple[str, str, str, str]]:
        return sorted(
            (c["type"], c.get("status", ""), c.get("reason", ""), c.get("message", ""))
            for c in s.get("conditions") or []
        )

    return a.get("phase") == b.get("phase") and strip(a) == strip(b)
