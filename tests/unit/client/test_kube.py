"""The dict-level requests on an in-process transport: paths, query parameters, bodies,
content types, paging, watch streams and how failures come out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import certifi
import httpx2
import pytest

from k3os.client import (
    ApiStatusError,
    ClientError,
    GoneError,
    Kube,
    NotFoundError,
    TransportError,
    connect,
    connect_kubeconfig,
)
from k3os.client.kubeconfig import ClientConfig, Cluster, User
from k3os.client.resources import CONFIG_MAPS, LEASES, NAMESPACES

Seen = list[tuple[str, str, dict[str, str], Any, str]]


def make(handler: Any) -> tuple[Kube, Seen]:
    seen: Seen = []

    def record(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else None
        seen.append(
            (
                request.method,
                request.url.path,
                dict(request.url.params),
                body,
                request.headers.get("content-type", ""),
            )
        )
        return handler(request)

    config = ClientConfig(Cluster(server="https://api.test"), User(token="x"))
    return Kube(config, transport=httpx2.MockTransport(record), field_manager="t"), seen


def ok(body: Any, status: int = 200) -> httpx2.Response:
    return httpx2.Response(status, json=body)


async def test_crud_requests() -> None:
    kube, seen = make(lambda r: ok({"metadata": {"name": "x"}}))
    async with kube:
        assert kube.server == "https://api.test"
        await kube.get(CONFIG_MAPS, "x", "ns")
        await kube.create(CONFIG_MAPS, {"metadata": {"name": "x", "namespace": "ns"}})
        await kube.replace(NAMESPACES, {"metadata": {"name": "x"}}, subresource="finalize")
        await kube.patch(LEASES, "l", {"spec": {}}, namespace="kube-system")
        await kube.patch(CONFIG_MAPS, "x", {"a": 1}, namespace="ns", patch_type="apply", force=True)
        await kube.delete(
            CONFIG_MAPS, "x", "ns", propagation="Foreground", uid="u", resource_version="7",
            grace_period=0,
        )  # fmt: skip
        await kube.delete(NAMESPACES, "x")
    assert [(m, p) for m, p, *_ in seen] == [
        ("GET", "/api/v1/namespaces/ns/configmaps/x"),
        ("POST", "/api/v1/namespaces/ns/configmaps"),
        ("PUT", "/api/v1/namespaces/x/finalize"),
        ("PATCH", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l"),
        ("PATCH", "/api/v1/namespaces/ns/configmaps/x"),
        ("DELETE", "/api/v1/namespaces/ns/configmaps/x"),
        ("DELETE", "/api/v1/namespaces/x"),
    ]
    assert seen[1][2] == {"fieldManager": "t"}
    assert seen[1][3] == {"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "x", "namespace": "ns"}}  # fmt: skip
    assert seen[2][3]["kind"] == "Namespace"
    assert seen[3][4] == "application/merge-patch+json"
    assert (seen[4][2], seen[4][4]) == (
        {"fieldManager": "t", "force": "true"},
        "application/apply-patch+yaml",
    )
    assert seen[5][3] == {
        "kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground",
        "preconditions": {"uid": "u", "resourceVersion": "7"}, "gracePeriodSeconds": 0,
    }  # fmt: skip
    assert seen[6][3] == {"kind": "DeleteOptions", "apiVersion": "v1"}


async def test_list_follows_pages_and_fills_kind() -> None:
    pages = [
        {"metadata": {"continue": "p2", "resourceVersion": "5"}, "items": [{"metadata": {}}]},
        {"metadata": {"resourceVersion": "9"}, "items": [{"metadata": {}, "kind": "Other"}]},
    ]
    kube, seen = make(lambda r: ok(pages.pop(0)))
    listing = await kube.list(CONFIG_MAPS, "ns", label_selector="a=b", field_selector="x=y")
    assert listing.resource_version == "9"
    assert [i["kind"] for i in listing.items] == ["ConfigMap", "Other"]
    assert listing.items[0]["apiVersion"] == "v1"
    assert seen[0][2] == {"limit": "500", "labelSelector": "a=b", "fieldSelector": "x=y"}
    assert seen[1][2]["continue"] == "p2"


async def test_failures() -> None:
    def fail(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/missing"):
            return ok({"kind": "Status", "code": 404, "reason": "NotFound", "message": "no"}, 404)
        if request.url.path.endswith("/down"):
            raise httpx2.ConnectError("refused", request=request)
        if request.url.path.endswith("/empty"):
            return httpx2.Response(200)
        if request.url.path.endswith("/array"):
            return ok([1, 2])
        return httpx2.Response(500, text="boom")

    kube, _ = make(fail)
    with pytest.raises(NotFoundError, match="404 NotFound: no"):
        await kube.get(CONFIG_MAPS, "missing", "ns")
    with pytest.raises(TransportError, match="refused"):
        await kube.get(CONFIG_MAPS, "down", "ns")
    with pytest.raises(ApiStatusError, match="500"):
        await kube.get(CONFIG_MAPS, "other", "ns")
    assert await kube.get(CONFIG_MAPS, "empty", "ns") == {}
    assert await kube.get(CONFIG_MAPS, "array", "ns") == {"items": [1, 2]}


async def test_watch_stream() -> None:
    lines = [
        {"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "3"}}},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "4"}}},
        {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}},
    ]
    stream = "\n".join(json.dumps(x) for x in lines[:2]) + "\n\n" + json.dumps(lines[2]) + "\n"
    kube, seen = make(lambda r: httpx2.Response(200, text=stream))
    events = []

    async def consume() -> None:
        async for event in kube.watch(
            CONFIG_MAPS, "ns", resource_version="2", label_selector="a", field_selector="b"
        ):
            events.append((event.type, event.resource_version))

    with pytest.raises(GoneError):
        await consume()
    assert events == [("ADDED", "3"), ("BOOKMARK", "4")]
    assert seen[0][2] == {
        "watch": "true", "timeoutSeconds": "300", "resourceVersion": "2",
        "allowWatchBookmarks": "true", "labelSelector": "a", "fieldSelector": "b",
    }  # fmt: skip


async def test_watch_failures() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.params.get("resourceVersion") == "1":
            return ok({"code": 410, "reason": "Expired", "message": "old"}, 410)
        raise httpx2.ReadError("reset", request=request)

    kube, _ = make(handler)
    with pytest.raises(GoneError):
        async for _ in kube.watch(CONFIG_MAPS, resource_version="1", bookmarks=False):
            pass
    with pytest.raises(TransportError):
        async for _ in kube.watch(CONFIG_MAPS):
            pass


async def test_metadata_only_lists_and_watches_ask_for_partial_objects() -> None:
    accepts: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        accepts.append(request.headers["accept"])
        if request.url.params.get("watch"):
            return httpx2.Response(200, text="")
        return ok({"metadata": {"resourceVersion": "1"}, "items": [{"metadata": {"name": "a"}}]})

    kube, _ = make(handler)
    listing = await kube.list(CONFIG_MAPS, metadata_only=True)
    assert listing.items == [{"metadata": {"name": "a"}}]  # no kind filled in: it is partial
    async for _ in kube.watch(CONFIG_MAPS, metadata_only=True):
        pass
    await kube.list(CONFIG_MAPS)
    assert accepts == [
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
        "application/json",
    ]


async def test_discovery_takes_preferred_versions_and_skips_subresources() -> None:
    docs = {
        "/api/v1": {"resources": [
            {"name": "pods", "kind": "Pod", "namespaced": True, "verbs": ["get", "list"]},
            {"name": "pods/status", "kind": "Pod", "namespaced": True},
        ]},
        "/apis": {"groups": [
            {"name": "apps", "preferredVersion": {"version": "v1"}},
            {"name": "broken"},
        ]},
        "/apis/apps/v1": {"resources": [{"name": "deployments", "kind": "Deployment",
                                          "namespaced": True}]},
    }  # fmt: skip
    kube, _ = make(lambda r: ok(docs[r.url.path]))
    found = await kube.discover()
    assert [(t.group, t.plural, t.namespaced) for t in found] == [
        ("", "pods", True),
        ("apps", "deployments", True),
    ]
    assert found[0].verbs == {"get", "list"}


def test_connect_and_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="cannot set up TLS"):
        connect("https://127.0.0.1:1", ca=tmp_path / "missing.crt", token="t")
    kube = connect("https://127.0.0.1:1", ca=certifi.where(), token="t")
    assert kube.server == "https://127.0.0.1:1"
    typed = kube.typed()
    assert type(typed).__name__ == "AsyncClient"
    with pytest.raises(ClientError, match="not found"):
        connect_kubeconfig(tmp_path / "nope.yaml")
    cfg = tmp_path / "k.yaml"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
        "users: [{name: u, user: {token: x}}]\n"
        "contexts: [{name: ctx, context: {cluster: c, user: u}}]\ncurrent-context: ctx\n"
    )
    assert connect_kubeconfig(cfg).server == "https://h:1"
    with pytest.raises(ClientError):
        connect_kubeconfig(cfg, context="other")
    with pytest.raises(ClientError, match="no user"):
        Kube(ClientConfig(Cluster(server="https://h:1")))
