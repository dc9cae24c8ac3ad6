"""Garbage collection by ownerReferences, in the three modes upstream has.

The collector watches every kind discovery lists (rediscovering now and then, for custom
resources) and keeps a graph: object uid -> its owners, owner uid -> its dependents. What
the other controllers already watch whole (their shared informers without selectors) is
followed through their informers rather than a watch of its own: a kind they watch
cluster-wide (Nodes, Plans, the fleet's configs) entirely, a kind they watch in some
namespaces (the Leases of `kube-node-lease`) there, the rest of that kind by a watch of the
other namespaces. Each change (a fleet's Lease renewals and Node status reports, its
rollouts) reaches the server's controllers once, not twice. The rest is watched
metadata-only.
A key is an object's uid; looking at one means:

- Owned object, every owner gone (checked by a live read, uid compared, never from the
  cache alone) or being deleted in the foreground: delete it (Background; Foreground if it
  has dependents of its own). Some owners gone but one still solid: drop the dangling
  references. (Background deletion.)
- Object being deleted with the `orphan` finalizer: remove its references from every
  dependent, then the finalizer. (Orphan.)
- Object being deleted with the `foregroundDeletion` finalizer: its dependents are deleted
  (as above); once none with `blockOwnerDeletion: true` is left, remove the finalizer and
  the API lets the owner go. (Foreground.)

Events are not collected (they expire by TTL instead).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from k3os.client import (
    ClientError,
    ConflictError,
    Controller,
    Informer,
    InformerSet,
    Kube,
    NotFoundError,
    TemporaryError,
)
from k3os.client.clock import Clock, SystemClock
from k3os.client.resources import ResourceType
from k3os.controllers._objects import finalizers, is_deleting, meta

__all__ = ["FOREGROUND", "ORPHAN", "GarbageCollector"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
OwnerState = Literal["solid", "dangling", "waiting"]


@dataclass
class _Node:
    rt: ResourceType
    namespace: str
    name: str
    owners: list[Obj] = field(default_factory=list)


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


class GarbageCollector:
    def __init__(
        self,
        kube: Kube,
        *,
        clock: Clock | None = None,
        rediscover_every: float = 30.0,
        workers: int = 2,
        shared: InformerSet | None = None,
    ) -> None:
        self.kube = kube
        self.shared = shared
        """The other controllers' informers: a kind they watch whole is followed there."""
        self.clock: Clock = clock or SystemClock()
        self.rediscover_every = rediscover_every
        self.informers: dict[ResourceType, Informer] = {}
        """Per kind, the informer that holds it (the namespaces below excepted)."""
        self.by_namespace: dict[ResourceType, dict[str, Informer]] = {}
        """Per kind, the shared informers followed for some of its namespaces."""
        self._tasks: dict[ResourceType, asyncio.Task[None]] = {}
        self._followed: dict[Informer, Any] = {}  # shared informers: the handler given them
        self._kinds_changed = asyncio.Event()
        self.kinds: dict[tuple[str, str], ResourceType] = {}
        self.nodes: dict[str, _Node] = {}
        self.dependents: dict[str, set[str]] = {}
        self.controller: Controller[str] = Controller(
            "garbage-collector", self.reconcile, workers=workers
        )
        self.discovered = asyncio.Event()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.controller.run(), name="garbage-collector:workers")
            while True:
                try:
                    await self._discover(tg)
                except ClientError as e:
                    log.warning("garbage collector: discovery failed: %s", e)
                await self._until_rediscovery()

    async def _until_rediscovery(self) -> None:
        """Wait `rediscover_every`, or less when a CRD changed (then a moment more, so the
        server has started serving it)."""
        timer = asyncio.ensure_future(self.clock.sleep(self.rediscover_every))
        changed = asyncio.ensure_future(self._kinds_changed.wait())
        try:
            await asyncio.wait({timer, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            changed.cancel()
        if self._kinds_changed.is_set():
            self._kinds_changed.clear()
            await self.clock.sleep(0.5)

    async def _discover(self, tg: asyncio.TaskGroup) -> None:
        served = await self.kube.discover()
        self.kinds = {(rt.group, rt.kind): rt for rt in served}
        wanted = {
            rt for rt in served if rt.kind != "Event" and {"list", "watch", "delete"} <= rt.verbs
        }
        for rt in set(self.informers) - wanted:
            self._forget_kind(rt)  # no longer served (a CRD was deleted)
        for rt in wanted - set(self.informers):
            shared = self._shared_informers(rt)
            if "" in shared:
                self.informers[rt] = shared[""]
                self._follow(rt, shared[""])
                continue
            for namespace, borrowed in shared.items():
                self.by_namespace.setdefault(rt, {})[namespace] = borrowed
                self._follow(rt, borrowed)
            others = ",".join(f"metadata.namespace!={ns}" for ns in sorted(shared))
            informer = Informer(self.kube, rt, clock=self.clock, metadata_only=True,
                                field_selector=others)  # fmt: skip
            informer.add_handler(self._handler(rt, informer))
            self.informers[rt] = informer
            name = f"garbage-collector:{informer.name}"
            self._tasks[rt] = tg.create_task(informer.run(), name=name)
        self.discovered.set()

    def _shared_informers(self, rt: ResourceType) -> dict[str, Informer]:
        """The shared informers that watch `rt` whole, by namespace ("" for all of them;
        nothing else is taken when there is that one)."""
        found: dict[str, Informer] = {}
        for informer in self.shared or ():
            same = (informer.rt.group, informer.rt.plural) == (rt.group, rt.plural)
            whole = not (informer.label_selector or informer.field_selector)
            if same and whole and not informer.metadata_only:
                found[informer.namespace] = informer
        return {"": found[""]} if "" in found else found if rt.namespaced else {}

    def _follow(self, rt: ResourceType, informer: Informer) -> None:
        """Take objects of `rt` from a shared informer (run by its owner, not here): what it
        holds now enters the graph and its handler is added in the same step, so no change
        is missed whether it has listed yet or not."""
        handler = self._followed.get(informer) or self._handler(rt, informer)
        for obj in informer.cache:
            handler("ADDED", obj, None)
        if informer not in self._followed:  # a kind served again: its handler is there
            self._followed[informer] = handler
            informer.add_handler(handler)

    def _holds(self, rt: ResourceType, informer: Informer) -> bool:
        return self.informers.get(rt) is informer or any(
            i is informer for i in self.by_namespace.get(rt, {}).values()
        )

    def _forget_kind(self, rt: ResourceType) -> None:
        task = self._tasks.pop(rt, None)
        if task is not None:
            task.cancel()
        del self.informers[rt]  # a shared informer's events are ignored from now on
        self.by_namespace.pop(rt, None)
        for uid, node in list(self.nodes.items()):
            if node.rt == rt:
                del self.nodes[uid]
                for dep in self.dependents.get(uid, ()):
                    self.controller.queue.add(dep)

    def synced(self) -> bool:
        borrowed = [i for by_ns in self.by_namespace.values() for i in by_ns.values()]
        informers = [*self.informers.values(), *borrowed]
        return self.discovered.is_set() and all(i.synced.is_set() for i in informers)

    # The graph, kept by informer events.

    def _handler(self, rt: ResourceType, informer: Informer) -> Any:
        crds = rt.group == "apiextensions.k8s.io" and rt.plural == "customresourcedefinitions"

        def on_change(change: str, obj: Obj, old: Obj | None) -> None:
            if not self._holds(rt, informer):
                return  # a kind no longer served (its shared informer still runs)
            if crds and self.discovered.is_set():
                self._kinds_changed.set()
            m = meta(obj)
            uid = str(m.get("uid") or "")
            if not uid:
                return
            previous = self.nodes.get(uid)
            if previous is not None:
                for ref in previous.owners:
                    deps = self.dependents.get(str(ref.get("uid")))
                    if deps is not None:
                        deps.discard(uid)
                        if not deps and str(ref.get("uid")) not in self.nodes:
                            del self.dependents[str(ref.get("uid"))]
            touched = {str(r.get("uid")) for r in (previous.owners if previous else [])}
            if change == "DELETED":
                self.nodes.pop(uid, None)
                for dep in self.dependents.get(uid, ()):
                    self.controller.queue.add(dep)
            else:
                owners = [r for r in m.get("ownerReferences") or [] if r.get("uid")]
                self.nodes[uid] = _Node(rt, str(m.get("namespace") or ""), str(m["name"]), owners)
                for ref in owners:
                    self.dependents.setdefault(str(ref["uid"]), set()).add(uid)
                    touched.add(str(ref["uid"]))
                if owners:
                    self.controller.queue.add(uid)
                if is_deleting(obj):
                    self.controller.queue.add(uid)
                    for dep in self.dependents.get(uid, ()):
                        self.controller.queue.add(dep)
            for owner in touched:
                if owner in self.nodes:
                    self.controller.queue.add(owner)

        return on_change

    def _cached(self, uid: str) -> Obj | None:
        node = self.nodes.get(uid)
        if node is None:
            return None
        informer = self.by_namespace.get(node.rt, {}).get(node.namespace)
        informer = informer or self.informers.get(node.rt)
        return informer.cache.get(node.name, node.namespace) if informer else None

    # Reconciling one object.

    async def reconcile(self, uid: str) -> float | None:
        if not self.synced():
            raise TemporaryError("the object graph is still syncing", delay=0.2)
        obj = self._cached(uid)
        if obj is None:
            return None
        node = self.nodes[uid]
        if is_deleting(obj):
            fins = finalizers(obj)
            if ORPHAN in fins:
                await self._orphan_dependents(uid)
                await self._drop_finalizer(node, obj, ORPHAN)
            elif FOREGROUND in fins:
                await self._delete_dependents_first(uid, node, obj)
            return None
        if node.owners:
            await self._check_owners(uid, node, obj)
        return None

    async def _check_owners(self, uid: str, node: _Node, obj: Obj) -> None:
        states = [(ref, await self._owner_state(node, ref)) for ref in node.owners]
        solid = [ref for ref, state in states if state == "solid"]
        if solid:
            stale = {str(ref["uid"]) for ref, state in states if state != "solid"}
            if stale:
                await self._remove_refs(node, obj, stale)
            return
        policy: Literal["Background", "Foreground"] = (
            "Foreground" if self.dependents.get(uid) else "Background"
        )
        log.info("garbage collecting %s %s/%s (%s)", node.rt.kind, node.namespace, node.name,
                 policy)  # fmt: skip
        try:
            await self.kube.delete(node.rt, node.name, node.namespace, propagation=policy, uid=uid)
        except NotFoundError:
            return

    async def _owner_state(self, node: _Node, ref: Obj) -> OwnerState:
        owner_uid = str(ref["uid"])
        cached = self._cached(owner_uid)
        if cached is not None:
            return _state_of(cached)
        group, kind = _group(str(ref.get("apiVersion") or "")), str(ref.get("kind") or "")
        rt = self.kinds.get((group, kind))
        if rt is None:
            raise TemporaryError(f"owner kind {kind} in group {group!r} is not served", delay=5)
        try:
            live = await self.kube.get(
                rt, str(ref.get("name")), node.namespace if rt.namespaced else ""
            )
        except NotFoundError:
            return "dangling"
        if meta(live).get("uid") != owner_uid:
            return "dangling"
        return _state_of(live)

    async def _orphan_dependents(self, owner_uid: str) -> None:
        for dep in sorted(self.dependents.get(owner_uid, ())):
            node, obj = self.nodes.get(dep), self._cached(dep)
            if node is not None and obj is not None:
                await self._remove_refs(node, obj, {owner_uid})

    async def _delete_dependents_first(self, uid: str, node: _Node, obj: Obj) -> None:
        blocking = 0
        for dep in sorted(self.dependents.get(uid, ())):
            dep_node, dep_obj = self.nodes.get(dep), self._cached(dep)
            if dep_node is None or dep_obj is None:
                continue
            ref = next((r for r in dep_node.owners if r.get("uid") == uid), {})
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            self.controller.queue.add(dep)
        if blocking == 0:
            await self._drop_finalizer(node, obj, FOREGROUND)

    async def _remove_refs(self, node: _Node, obj: Obj, owner_uids: set[str]) -> None:
        refs = meta(obj).get("ownerReferences") or []
        kept = [r for r in refs if r.get("uid") not in owner_uids]
        await self._patch_metadata(node, obj, {"ownerReferences": kept or None})

    async def _drop_finalizer(self, node: _Node, obj: Obj, name: str) -> None:
        kept = [f for f in finalizers(obj) if f != name]
        if await self._patch_metadata(node, obj, {"finalizers": kept or None}):
            log.info("%s %s/%s: %s done", node.rt.kind, node.namespace, node.name, name)

    async def _patch_metadata(self, node: _Node, obj: Obj, change: Obj) -> bool:
        """A merge patch of metadata, pinned to the version the decision was made on (the
        cache holds metadata only, so there is no whole object to PUT back)."""
        pinned = {"resourceVersion": meta(obj).get("resourceVersion"), **change}
        try:
            await self.kube.patch(
                node.rt, node.name, {"metadata": pinned}, namespace=node.namespace
            )
        except NotFoundError:
            return False
        except ConflictError as e:
            raise TemporaryError(f"{node.name} changed; again", delay=0.1) from e
        return True


def _state_of(owner: Obj) -> OwnerState:
    if is_deleting(owner) and FOREGROUND in finalizers(owner):
        return "waiting"
    return "solid"
