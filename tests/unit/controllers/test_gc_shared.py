"""The garbage collector follows what the other controllers watch whole through their
shared informers (no second watch of it): a kind watched cluster-wide entirely, a kind
watched in one namespace there and the rest of it by a watch of the other namespaces."""

from __future__ import annotations

import asyncio
from typing import Any

from k3os.client import InformerSet
from k3os.client.resources import ResourceType
from k3os.controllers.gc import GarbageCollector

VERBS = frozenset({"list", "watch", "delete", "get"})
NODES = ResourceType("", "v1", "nodes", "Node", False, VERBS)
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, VERBS)


class _Kube:
    """Discovery answers; lists and watches never do (the collector's own informers wait)."""

    async def discover(self) -> list[ResourceType]:
        return [NODES, LEASES]

    async def list(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.Event().wait()

    async def watch(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.Event().wait()
        yield  # pragma: no cover


def obj(kind: str, name: str, uid: str, rv: str, owner: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid, "resourceVersion": rv}
    if kind == "Lease":
        meta["namespace"] = "kube-node-lease"
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": owner,
                                    "uid": f"uid-{owner}"}]  # fmt: skip
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


async def test_a_kind_watched_whole_by_the_controllers_is_followed_through_their_informer() -> None:
    kube = _Kube()
    shared = InformerSet(kube)  # type: ignore[arg-type]
    nodes = shared.get(NODES)  # whole: borrowed
    node_leases = shared.get(LEASES, "kube-node-lease")  # one namespace: borrowed for it
    nodes._store(obj("Node", "n1", "uid-n1", "1"))  # listed before the collector looks
    gc = GarbageCollector(kube, shared=shared)  # type: ignore[arg-type]
    async with asyncio.TaskGroup() as tg:
        await gc._discover(tg)
        assert gc.informers[NODES] is nodes and NODES not in gc._tasks
        own = gc.informers[LEASES]  # the other namespaces' Leases, metadata-only
        assert own is not node_leases and own.metadata_only and LEASES in gc._tasks
        assert own.field_selector == "metadata.namespace!=kube-node-lease"
        assert gc.by_namespace[LEASES] == {"kube-node-lease": node_leases}
        assert "uid-n1" in gc.nodes  # what the shared informer held is in the graph
        nodes._store(obj("Node", "n2", "uid-n2", "2"))  # and what it delivers since
        assert gc.nodes["uid-n2"].name == "n2"
        node_leases._store(obj("Lease", "n2", "uid-l2", "3", owner="n2"))
        assert gc.dependents["uid-n2"] == {"uid-l2"}
        assert gc._cached("uid-l2") is node_leases.cache.get("n2", "kube-node-lease")
        elsewhere = obj("Lease", "leader", "uid-l9", "5", owner="n2")
        elsewhere["metadata"]["namespace"] = "kube-system"
        own._store(elsewhere)
        assert gc.dependents["uid-n2"] == {"uid-l2", "uid-l9"}
        assert gc._cached("uid-l9") is own.cache.get("leader", "kube-system")
        assert not gc.synced()  # until the borrowed informers have listed as well
        for informer in (nodes, node_leases, own):
            informer.synced.set()
        assert gc.synced()
        removed = nodes.cache.remove(("", "n2"))
        nodes._notify("DELETED", removed or {}, removed)  # the owner goes: its lease is looked at
        assert "uid-n2" not in gc.nodes
        assert len(gc.controller.queue) >= 1
        # A kind no longer served: its shared informer goes on for its owners, unheard here.
        gc._forget_kind(NODES)
        nodes._store(obj("Node", "n3", "uid-n3", "4"))
        assert "uid-n3" not in gc.nodes
        await gc._discover(tg)  # served again: followed again, by the one handler
        assert gc.informers[NODES] is nodes and len(nodes._handlers) == 1
        assert "uid-n3" in gc.nodes
        gc._forget_kind(LEASES)
        node_leases._store(obj("Lease", "n4", "uid-l4", "6"))
        assert "uid-l4" not in gc.nodes and LEASES not in gc.by_namespace
        for task in gc._tasks.values():
            task.cancel()
