"""The server's own controllers, end to end: a real `k3os server` (TLS, SQLite) running its
controller manager in-process, driven over HTTPS by the client layer.

Short settings make it quick: node grace period 2 s, event TTL 3 s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from k3os.client import Kube, NotFoundError, ResourceType, connect_kubeconfig
from k3os.client.resources import (
    CONFIG_MAPS,
    EVENTS,
    LEASES,
    NAMESPACES,
    NODES,
    SERVICE_ACCOUNTS,
)
from tests.integration._apiserver import RunningServer, free_port
from tests.integration._controlplane import eventually, gone, maybe_get, start_server

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("controllers") / "data"
    data.mkdir()
    extra = [
        "--node-monitor-grace-period", "2s", "--event-ttl", "3s",
        "--leader-elect-retry-period", "500ms",
    ]  # fmt: skip
    srv = start_server(data, free_port(), extra)
    yield srv
    srv.stop()


@pytest.fixture
async def kube(server: RunningServer) -> AsyncIterator[Kube]:
    async with connect_kubeconfig(server.kubeconfig) as client:
        yield client


def owned_by(owner: Obj, *, block: bool = True) -> list[Obj]:
    m = owner["metadata"]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": m["name"], "uid": m["uid"]}
    return [{**ref, "blockOwnerDeletion": True} if block else ref]


async def configmap(kube: Kube, ns: str, name: str, **meta: Any) -> Obj:
    return await kube.create(CONFIG_MAPS, {"metadata": {"name": name, "namespace": ns, **meta}})


async def test_every_namespace_gets_a_default_account_and_the_root_ca(
    kube: Kube, server: RunningServer
) -> None:
    ca = (server.tls / "ca.crt").read_text()
    await kube.create(NAMESPACES, {"metadata": {"name": "fresh"}})
    await eventually(lambda: maybe_get(kube, SERVICE_ACCOUNTS, "default", "fresh"), what="SA")
    cm = await eventually(lambda: maybe_get(kube, CONFIG_MAPS, "kube-root-ca.crt", "fresh"))
    assert cm["data"] == {"ca.crt": ca}
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        await eventually(lambda ns=ns: maybe_get(kube, SERVICE_ACCOUNTS, "default", ns))
        await eventually(lambda ns=ns: maybe_get(kube, CONFIG_MAPS, "kube-root-ca.crt", ns))

    # deleted: re-created; tampered with: put right
    await kube.delete(SERVICE_ACCOUNTS, "default", "fresh", uid="")
    await kube.replace(CONFIG_MAPS, {**cm, "data": {"ca.crt": "forged"}})

    async def restored() -> bool:
        sa = await maybe_get(kube, SERVICE_ACCOUNTS, "default", "fresh")
        now = await maybe_get(kube, CONFIG_MAPS, "kube-root-ca.crt", "fresh")
        return sa is not None and now is not None and now["data"] == {"ca.crt": ca}

    await eventually(restored, what="the account re-created and the CA put back")


async def test_a_deleted_namespace_empties_then_disappears(kube: Kube) -> None:
    await kube.create(NAMESPACES, {"metadata": {"name": "doomed"}})
    await configmap(kube, "doomed", "plain")
    await configmap(kube, "doomed", "held", finalizers=["example.com/hold"])
    event = {"metadata": {"name": "e", "namespace": "doomed"}, "involvedObject": {"kind": "X"}}
    await kube.create(EVENTS, event)
    marked = await kube.delete(NAMESPACES, "doomed")
    assert marked["status"]["phase"] == "Terminating"
    assert marked["spec"]["finalizers"] == ["kubernetes"]

    async def only_held_left() -> Obj | None:
        ns = await kube.get(NAMESPACES, "doomed")
        conds = {c["type"]: c for c in ns["status"].get("conditions") or []}
        left = await kube.list(CONFIG_MAPS, "doomed")
        names = sorted(o["metadata"]["name"] for o in left.items)
        remaining = conds.get("NamespaceFinalizersRemaining", {}).get("status") == "True"
        return ns if names == ["held"] and remaining else None

    ns = await eventually(only_held_left, what="everything but the held configmap deleted")
    assert ns["status"]["phase"] == "Terminating"
    conds = {c["type"]: c for c in ns["status"]["conditions"]}
    assert "example.com/hold" in conds["NamespaceFinalizersRemaining"]["message"]
    assert conds["NamespaceContentRemaining"]["status"] == "True"
    assert "configmaps has 1 resource instances" in conds["NamespaceContentRemaining"]["message"]
    assert await gone(kube, EVENTS, "e", "doomed")

    held = await kube.get(CONFIG_MAPS, "held", "doomed")
    await kube.replace(CONFIG_MAPS, {**held, "metadata": {**held["metadata"], "finalizers": []}})
    await eventually(lambda: gone(kube, NAMESPACES, "doomed"), what="the namespace to go")


async def test_gc_background(kube: Kube) -> None:
    owner = await configmap(kube, "default", "bg-owner")
    await configmap(kube, "default", "bg-child", ownerReferences=owned_by(owner, block=False))
    child = await kube.get(CONFIG_MAPS, "bg-child", "default")
    await configmap(kube, "default", "bg-grandchild", ownerReferences=owned_by(child))
    await kube.delete(CONFIG_MAPS, "bg-owner", "default", propagation="Background")
    assert await gone(kube, CONFIG_MAPS, "bg-owner", "default")  # at once
    await eventually(lambda: gone(kube, CONFIG_MAPS, "bg-child", "default"), what="child")
    await eventually(lambda: gone(kube, CONFIG_MAPS, "bg-grandchild", "default"))


async def test_gc_keeps_a_dependent_with_a_living_owner_and_drops_the_dangling_ref(
    kube: Kube,
) -> None:
    a = await configmap(kube, "default", "two-a")
    b = await configmap(kube, "default", "two-b")
    await configmap(kube, "default", "two-child", ownerReferences=owned_by(a) + owned_by(b))
    await kube.delete(CONFIG_MAPS, "two-a", "default")

    async def one_owner_left() -> bool:
        child = await kube.get(CONFIG_MAPS, "two-child", "default")
        refs = child["metadata"].get("ownerReferences") or []
        return [r["name"] for r in refs] == ["two-b"]

    await eventually(one_owner_left, what="the dangling reference dropped")
    await kube.delete(CONFIG_MAPS, "two-b", "default")
    await eventually(lambda: gone(kube, CONFIG_MAPS, "two-child", "default"))


async def test_gc_foreground_waits_for_blocking_dependents(kube: Kube) -> None:
    owner = await configmap(kube, "default", "fg-owner")
    await configmap(kube, "default", "fg-blocker", ownerReferences=owned_by(owner),
                    finalizers=["example.com/slow"])  # fmt: skip
    await configmap(kube, "default", "fg-free", ownerReferences=owned_by(owner, block=False))
    marked = await kube.delete(CONFIG_MAPS, "fg-owner", "default", propagation="Foreground")
    assert "foregroundDeletion" in marked["metadata"]["finalizers"]

    async def blocker_deleting() -> bool:
        blocker = await kube.get(CONFIG_MAPS, "fg-blocker", "default")
        return bool(blocker["metadata"].get("deletionTimestamp"))

    await eventually(blocker_deleting, what="the blocking dependent marked")
    await eventually(lambda: gone(kube, CONFIG_MAPS, "fg-free", "default"), what="free one gone")
    await asyncio.sleep(1.0)  # the owner must still wait for the blocker
    still = await kube.get(CONFIG_MAPS, "fg-owner", "default")
    assert still["metadata"]["finalizers"] == ["foregroundDeletion"]

    blocker = await kube.get(CONFIG_MAPS, "fg-blocker", "default")
    await kube.replace(
        CONFIG_MAPS, {**blocker, "metadata": {**blocker["metadata"], "finalizers": []}}
    )
    await eventually(lambda: gone(kube, CONFIG_MAPS, "fg-owner", "default"), what="owner gone")


async def test_gc_orphan_keeps_dependents_without_the_reference(kube: Kube) -> None:
    owner = await configmap(kube, "default", "or-owner")
    other = await configmap(kube, "default", "or-other")
    await configmap(kube, "default", "or-child", ownerReferences=owned_by(owner) + owned_by(other))
    await kube.delete(CONFIG_MAPS, "or-owner", "default", propagation="Orphan")
    await eventually(lambda: gone(kube, CONFIG_MAPS, "or-owner", "default"), what="owner gone")
    child = await kube.get(CONFIG_MAPS, "or-child", "default")
    assert [r["name"] for r in child["metadata"]["ownerReferences"]] == ["or-other"]
    await asyncio.sleep(0.5)
    assert await maybe_get(kube, CONFIG_MAPS, "or-child", "default") is not None


async def test_gc_across_kinds_and_scopes(kube: Kube) -> None:
    """A namespaced object owned by a cluster-scoped one (a Lease owned by a Node)."""
    node = await kube.create(NODES, {"metadata": {"name": "gc-node"}})
    ref = {"apiVersion": "v1", "kind": "Node", "name": "gc-node", "uid": node["metadata"]["uid"]}
    await kube.create(LEASES, {"metadata": {"name": "gc-node", "namespace": "kube-node-lease",
                                            "ownerReferences": [ref]}})  # fmt: skip
    await kube.delete(NODES, "gc-node")
    await eventually(lambda: gone(kube, LEASES, "gc-node", "kube-node-lease"), what="lease gone")


async def test_events_expire_after_the_ttl(kube: Kube) -> None:
    body = {"metadata": {"name": "short-lived", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": "x"}, "reason": "Test"}  # fmt: skip
    await kube.create(EVENTS, body)
    assert await maybe_get(kube, EVENTS, "short-lived", "default") is not None
    await eventually(lambda: gone(kube, EVENTS, "short-lived", "default"), what="event expired")


async def renew(kube: Kube, name: str) -> None:
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = await maybe_get(kube, LEASES, name, "kube-node-lease")
    spec = {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": stamp}
    if lease is None:
        await kube.create(LEASES, {"metadata": {"name": name, "namespace": "kube-node-lease"},
                                   "spec": spec})  # fmt: skip
    else:
        await kube.replace(LEASES, {**lease, "spec": spec})


def ready(node: Obj) -> Obj:
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


def unreachable_taints(node: Obj) -> list[str]:
    return sorted(
        t["effect"]
        for t in node["spec"].get("taints") or []
        if t["key"] == "node.kubernetes.io/unreachable"
    )


async def test_a_silent_node_turns_unknown_and_recovers_when_heartbeats_resume(
    kube: Kube,
) -> None:
    await kube.create(
        NODES,
        {
            "metadata": {"name": "edge-1"},
            "spec": {"taints": [{"key": "dedicated", "value": "edge", "effect": "NoSchedule"}]},
        },
    )
    node = await kube.get(NODES, "edge-1")
    node["status"] = {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                      "message": "ok"}]}  # fmt: skip
    await kube.replace(NODES, node, subresource="status")
    await renew(kube, "edge-1")

    # While it heartbeats, it stays Ready and untainted.
    for _ in range(8):
        await renew(kube, "edge-1")
        await asyncio.sleep(0.5)
    node = await kube.get(NODES, "edge-1")
    assert ready(node)["status"] == "True" and unreachable_taints(node) == []

    async def unknown() -> Obj | None:
        node = await kube.get(NODES, "edge-1")
        ok = ready(node)["status"] == "Unknown" and unreachable_taints(node) == [
            "NoExecute", "NoSchedule"
        ]  # fmt: skip
        return node if ok else None

    node = await eventually(unknown, what="Ready=Unknown and the unreachable taints")
    assert ready(node)["reason"] == "NodeStatusUnknown"
    no_execute = next(t for t in node["spec"]["taints"] if t["effect"] == "NoExecute")
    assert "timeAdded" in no_execute
    assert any(t["key"] == "dedicated" for t in node["spec"]["taints"])  # others untouched

    await renew(kube, "edge-1")

    async def recovered() -> Obj | None:
        node = await kube.get(NODES, "edge-1")
        return node if ready(node)["status"] == "True" and not unreachable_taints(node) else None

    node = await eventually(recovered, what="Ready=True and the taints gone")
    assert [t["key"] for t in node["spec"]["taints"]] == ["dedicated"]


WIDGETS = ResourceType("example.com", "v1", "widgets", "Widget", True)
CRDS = ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                    "CustomResourceDefinition", False)  # fmt: skip


async def test_gc_and_namespace_deletion_cover_custom_resources(kube: Kube) -> None:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    await kube.create(CRDS, {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema}],
        },
    })  # fmt: skip

    async def served() -> bool:
        try:
            await kube.list(WIDGETS, "default")
        except NotFoundError:
            return False
        return True

    await eventually(served, what="the CRD served")
    owner = await configmap(kube, "default", "widget-owner")
    await kube.create(WIDGETS, {"metadata": {"name": "w1", "namespace": "default",
                                             "ownerReferences": owned_by(owner)}})  # fmt: skip
    await kube.delete(CONFIG_MAPS, "widget-owner", "default")
    await eventually(lambda: gone(kube, WIDGETS, "w1", "default"), what="the widget collected")

    await kube.create(NAMESPACES, {"metadata": {"name": "widgets"}})
    await kube.create(WIDGETS, {"metadata": {"name": "w2", "namespace": "widgets"}})
    await kube.delete(NAMESPACES, "widgets")
    await eventually(lambda: gone(kube, NAMESPACES, "widgets"), what="the namespace gone")

    await kube.delete(CRDS, "widgets.example.com")
    await eventually(lambda: gone(kube, CRDS, "widgets.example.com"), what="the CRD gone")


async def test_the_controllers_call_the_api_in_process(kube: Kube, server: RunningServer) -> None:
    """By default they reach the app directly (no loopback HTTPS), and do their work."""
    assert "the controller manager calls the API in-process" in server.log.read_text()
    await kube.create(NAMESPACES, {"metadata": {"name": "managed"}})
    await eventually(lambda: maybe_get(kube, SERVICE_ACCOUNTS, "default", "managed"))


async def test_the_https_path_stays_available(tmp_path: Path) -> None:
    """`--controller-manager-transport https`: the controllers over loopback HTTPS again."""
    data = tmp_path / "data"
    data.mkdir()
    srv = start_server(data, free_port(), ["--controller-manager-transport", "https"])
    try:
        assert "calls the API in-process" not in srv.log.read_text()
        async with connect_kubeconfig(srv.kubeconfig) as kube:
            await kube.create(NAMESPACES, {"metadata": {"name": "over-https"}})
            await eventually(lambda: maybe_get(kube, SERVICE_ACCOUNTS, "default", "over-https"))
    finally:
        srv.stop()
