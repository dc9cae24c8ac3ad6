"""CRDs through the in-process API (memory store, the CRD loop running): serving, status,
validation on every verb, subresources, tables, OpenAPI, deletion and restarts."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from k3os.apiserver.crds import CustomResourceDefinitions
from k3os.store import Compacted, StoreUnavailable, Watch
from tests.unit.apiserver._api import Api, api_server

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "x-kubernetes-validations": [
                {"rule": "!has(oldSelf.size) || self.size >= oldSelf.size",
                 "message": "size may not shrink"},
            ],
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "default": 1},
                "colour": {"type": "string", "enum": ["red", "blue"]},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"],
                                    "properties": {"name": {"type": "string"},
                                                   "port": {"type": "integer"}}}},
            },
        },
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"},
                                                    "selector": {"type": "string"}}},
    },
}  # fmt: skip
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": SCHEMA},
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.selector",
                    },
                },
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Colour", "type": "string", "jsonPath": ".spec.colour"},
                ],
            },
            {
                "name": "v2",
                "served": True,
                "storage": False,
                "schema": {"openAPIV3Schema": SCHEMA},
            },
        ],
    },
}


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with api_server() as a:
        loop = CustomResourceDefinitions(a.ctx)
        await loop.start()
        try:
            yield a
        finally:
            await loop.stop()


async def _served(api: Api, path: str = WIDGETS) -> bool:
    return (await api.http.get(path)).status_code == 200


async def _install(api: Api, crd: dict[str, Any] = CRD, path: str = WIDGETS) -> None:
    resp = await api.create(CRDS, crd)
    assert resp.status_code == 201, resp.text
    await _until(lambda: _served(api, path), "the CRD to be served")


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"size": 1, **spec}}  # fmt: skip


async def test_crd_status_and_finalizer(api: Api) -> None:
    await _install(api)

    async def established() -> bool:
        got = (await api.http.get(f"{CRDS}/widgets.example.com")).json()
        return bool(got.get("status"))

    await _until(established, "the CRD status")
    got = (await api.http.get(f"{CRDS}/widgets.example.com")).json()
    assert got["metadata"]["finalizers"] == ["customresourcecleanup.apiextensions.k8s.io"]
    assert {c["type"]: c["status"] for c in got["status"]["conditions"]} == {
        "NamesAccepted": "True",
        "Established": "True",
    }
    assert got["status"]["storedVersions"] == ["v1"]
    assert got["spec"]["conversion"] == {"strategy": "None"}
    assert got["spec"]["names"]["listKind"] == "WidgetList"
    table = (await api.http.get(CRDS, headers={"accept": TABLE})).json()
    assert table["rows"][0]["cells"][0] == "widgets.example.com"


async def test_bad_crds_are_refused_with_field_paths(api: Api) -> None:
    bad = copy.deepcopy(CRD)
    bad["spec"]["conversion"] = {"strategy": "Webhook"}
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "size"
    ] = {"minimum": 1}
    resp = await api.create(CRDS, bad)
    assert resp.status_code == 422
    causes = [c["field"] for c in resp.json()["details"]["causes"]]
    assert causes == [  # both versions share one schema
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].type",
        "spec.versions[1].schema.openAPIV3Schema.properties[spec].properties[size].type",
        "spec.conversion.strategy",
    ]
    await _install(api)
    current = (await api.http.get(f"{CRDS}/widgets.example.com")).json()
    current["spec"]["scope"] = "Cluster"
    resp = await api.http.put(f"{CRDS}/widgets.example.com", json=current)
    assert resp.status_code == 422
    assert 'spec.scope: Invalid value: "Cluster": field is immutable' in resp.json()["message"]


async def test_custom_resource_crud_defaults_and_storage_version(api: Api) -> None:
    await _install(api)
    resp = await api.create(WIDGETS, widget("w1"))
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["spec"]["replicas"] == 1 and made["metadata"]["generation"] == 1
    raw = await api.store.get("/registry/example.com/widgets/default/w1")
    assert raw is not None and json.loads(raw.value)["apiVersion"] == "example.com/v1"
    v2 = (await api.http.get("/apis/example.com/v2/namespaces/default/widgets/w1")).json()
    assert v2["apiVersion"] == "example.com/v2" and v2["spec"] == made["spec"]
    resp = await api.create("/apis/example.com/v2/namespaces/default/widgets",
                            {**widget("w2"), "apiVersion": "example.com/v2"})  # fmt: skip
    assert resp.status_code == 201
    raw = await api.store.get("/registry/example.com/widgets/default/w2")
    assert raw is not None and json.loads(raw.value)["apiVersion"] == "example.com/v1"
    listing = (await api.http.get("/apis/example.com/v1/widgets")).json()
    assert listing["kind"] == "WidgetList" and len(listing["items"]) == 2
    selected = await api.http.get(WIDGETS, params={"fieldSelector": "metadata.name=w2"})
    assert [o["metadata"]["name"] for o in selected.json()["items"]] == ["w2"]
    await api.http.patch(f"{WIDGETS}/w1", content='{"metadata":{"labels":{"tier":"a"}}}',
                         headers={"content-type": "application/merge-patch+json"})  # fmt: skip
    selected = await api.http.get(WIDGETS, params={"labelSelector": "tier=a"})
    assert [o["metadata"]["name"] for o in selected.json()["items"]] == ["w1"]
    resp = await api.create(WIDGETS, {**widget("w3"), "apiVersion": "example.com/v2"})
    assert resp.status_code == 400
    resp = await api.create(WIDGETS, {**widget("w3"), "kind": "Gadget"})
    assert resp.status_code == 400
    assert (await api.http.delete(f"{WIDGETS}/w2")).status_code == 200


async def test_validation_on_every_verb(api: Api) -> None:
    await _install(api)
    resp = await api.create(WIDGETS, widget("bad", size=0, colour="green"))
    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'Widget.example.com "bad" is invalid: [spec.size: Invalid value: 0: spec.size in body '
        'should be greater than or equal to 1, spec.colour: Unsupported value: "green": '
        'supported values: "red", "blue"]'
    )
    await api.create(WIDGETS, widget("w", size=3))
    merge = {"content-type": "application/merge-patch+json"}
    resp = await api.http.patch(f"{WIDGETS}/w", content='{"spec":{"size":2}}', headers=merge)
    assert resp.status_code == 422
    assert 'spec: Invalid value: "object": size may not shrink' in resp.json()["message"]
    current = (await api.http.get(f"{WIDGETS}/w")).json()
    current["spec"]["colour"] = 5
    resp = await api.http.put(f"{WIDGETS}/w", json=current)
    assert resp.status_code == 422
    assert "spec.colour in body must be of type string" in resp.json()["message"]
    strategic = {"content-type": "application/strategic-merge-patch+json"}
    resp = await api.http.patch(f"{WIDGETS}/w", content='{"spec":{"size":4}}', headers=strategic)
    assert resp.status_code == 415
    resp = await api.http.patch(f"{WIDGETS}/w", content='{"spec":{"size":4}}', headers=merge)
    assert resp.status_code == 200 and resp.json()["metadata"]["generation"] == 2


async def test_unknown_fields_by_field_validation(api: Api) -> None:
    await _install(api)
    body = widget("u", extra=True)
    body["metadata"]["bogus"] = 1
    resp = await api.create(WIDGETS, body, fieldValidation="Strict")
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        'strict decoding error: unknown field "metadata.bogus", unknown field "spec.extra"'
    )
    resp = await api.create(WIDGETS, body)
    assert resp.status_code == 201
    assert resp.headers["warning"] == (
        '299 - "unknown field \\"metadata.bogus\\"", 299 - "unknown field \\"spec.extra\\""'
    )
    assert "extra" not in resp.json()["spec"]
    resp = await api.create(WIDGETS, {**widget("i", extra=1)}, fieldValidation="Ignore")
    assert resp.status_code == 201 and "warning" not in resp.headers
    resp = await api.create(WIDGETS, {**widget("m"), "metadata": {"name": "m", "labels": 5}})
    assert resp.status_code == 400
    resp = await api.create(WIDGETS, ["not", "an", "object"])  # type: ignore[arg-type]
    assert resp.status_code == 400


async def test_status_and_scale_subresources(api: Api) -> None:
    await _install(api)
    await api.create(WIDGETS, widget("s"))
    resp = await api.http.put(f"{WIDGETS}/s", json={**widget("s"), "status": {"replicas": 9}})
    assert resp.status_code == 200 and "status" not in resp.json()
    merge = {"content-type": "application/merge-patch+json"}
    resp = await api.http.patch(
        f"{WIDGETS}/s/status",
        content='{"status":{"replicas":2,"selector":"app=s"},"spec":{"size":7}}',
        headers=merge,
    )
    assert resp.status_code == 200
    assert resp.json()["status"] == {"replicas": 2, "selector": "app=s"}
    assert resp.json()["spec"]["size"] == 1
    scale = (await api.http.get(f"{WIDGETS}/s/scale")).json()
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"] == {"replicas": 2, "selector": "app=s"}
    scale["spec"]["replicas"] = 5
    resp = await api.http.put(f"{WIDGETS}/s/scale", json=scale)
    assert resp.status_code == 200 and resp.json()["spec"]["replicas"] == 5
    resp = await api.http.put(f"{WIDGETS}/s/scale", json=scale)
    assert resp.status_code == 409  # a stale resourceVersion
    resp = await api.http.patch(f"{WIDGETS}/s/scale", content='{"spec":{"replicas":-1}}',
                                headers=merge)  # fmt: skip
    assert resp.status_code == 422
    resp = await api.http.patch(f"{WIDGETS}/s/scale", content='{"spec":{"replicas":6}}',
                                headers=merge)  # fmt: skip
    assert resp.status_code == 200
    assert (await api.http.get(f"{WIDGETS}/s")).json()["spec"]["replicas"] == 6
    assert (await api.http.delete(f"{WIDGETS}/s/scale")).status_code == 405
    resp = await api.http.get("/apis/example.com/v2/namespaces/default/widgets/s/scale")
    assert resp.status_code == 404  # v2 has no subresources


async def test_tables_use_printer_columns(api: Api) -> None:
    await _install(api)
    await api.create(WIDGETS, widget("t", size=4, colour="red"))
    table = (await api.http.get(WIDGETS, headers={"accept": TABLE})).json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Colour"]
    assert table["rows"][0]["cells"] == ["t", 4, "red"]
    v2 = (await api.http.get("/apis/example.com/v2/namespaces/default/widgets",
                             headers={"accept": TABLE})).json()  # fmt: skip
    assert [c["name"] for c in v2["columnDefinitions"]] == ["Name", "Age"]


async def test_server_side_apply_merges_list_maps(api: Api) -> None:
    await _install(api)
    apply = {"content-type": "application/apply-patch+yaml"}
    first = widget("a", ports=[{"name": "http", "port": 80}])
    resp = await api.http.patch(f"{WIDGETS}/a", params={"fieldManager": "one"},
                                content=json.dumps(first), headers=apply)  # fmt: skip
    assert resp.status_code == 201, resp.text
    second = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "a"},
              "spec": {"size": 1, "ports": [{"name": "https", "port": 443}]}}  # fmt: skip
    resp = await api.http.patch(f"{WIDGETS}/a", params={"fieldManager": "two"},
                                content=json.dumps(second), headers=apply)  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert [p["name"] for p in resp.json()["spec"]["ports"]] == ["http", "https"]
    bad = widget("a", size=0)
    resp = await api.http.patch(f"{WIDGETS}/a", params={"fieldManager": "one", "force": "true"},
                                content=json.dumps(bad), headers=apply)  # fmt: skip
    assert resp.status_code == 422


async def test_discovery_and_openapi(api: Api) -> None:
    await _install(api)
    group = (await api.http.get("/apis/example.com")).json()
    assert group["preferredVersion"]["version"] == "v2"  # by version priority, not storage
    resources = (await api.http.get("/apis/example.com/v1")).json()["resources"]
    assert [r["name"] for r in resources] == ["widgets", "widgets/status", "widgets/scale"]
    assert resources[0]["shortNames"] == ["wd"]
    assert resources[2]["group"] == "autoscaling"
    index = (await api.http.get("/openapi/v3")).json()["paths"]
    assert "apis/example.com/v1" in index and "apis/example.com/v2" in index
    doc = (await api.http.get("/openapi/v3/apis/example.com/v1")).json()
    widget_schema = doc["components"]["schemas"]["com.example.v1.Widget"]
    assert widget_schema["properties"]["spec"]["required"] == ["size"]
    assert widget_schema["properties"]["metadata"] == {
        "allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    }
    assert "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/scale" in doc["paths"]
    v2 = (await api.http.get("/openapi/v2")).json()
    assert v2["definitions"]["com.example.v1.WidgetList"]["properties"]["items"]["items"] == {
        "$ref": "#/definitions/com.example.v1.Widget"
    }


async def test_name_conflicts_keep_the_second_crd_unserved(api: Api) -> None:
    await _install(api)
    other = copy.deepcopy(CRD)
    other["metadata"]["name"] = "gadgets.example.com"
    other["spec"]["names"] = {"plural": "gadgets", "kind": "Widget"}
    assert (await api.create(CRDS, other)).status_code == 201

    async def refused() -> bool:
        got = (await api.http.get(f"{CRDS}/gadgets.example.com")).json()
        return bool(got.get("status"))

    await _until(refused, "the conflicting CRD's status")
    got = (await api.http.get(f"{CRDS}/gadgets.example.com")).json()
    conditions = {c["type"]: (c["status"], c["message"]) for c in got["status"]["conditions"]}
    assert conditions["NamesAccepted"] == ("False", '"Widget" is already in use')
    gadgets = "/apis/example.com/v1/namespaces/default/gadgets"
    assert (await api.http.get(gadgets)).status_code == 404
    await api.http.delete(f"{CRDS}/widgets.example.com")
    await _until(lambda: _served(api, gadgets), "the freed names to go to the second CRD")


async def test_deleting_a_crd_deletes_its_objects_respecting_finalizers(api: Api) -> None:
    await _install(api)
    held = widget("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await api.create(WIDGETS, held)
    await api.create(WIDGETS, widget("free"))
    assert (await api.http.delete(f"{CRDS}/widgets.example.com")).status_code == 200

    async def marked() -> bool:
        resp = await api.http.get(f"{WIDGETS}/held")
        return resp.status_code == 200 and bool(resp.json()["metadata"].get("deletionTimestamp"))

    await _until(marked, "the held object to be marked")
    assert (await api.http.get(f"{WIDGETS}/free")).status_code == 404
    late = await api.create(WIDGETS, widget("late"))
    assert late.status_code == 405
    assert late.json()["message"] == (
        "create not allowed while custom resource definition is terminating"
    )
    crd = (await api.http.get(f"{CRDS}/widgets.example.com")).json()
    assert crd["metadata"]["deletionTimestamp"]
    merge = {"content-type": "application/merge-patch+json"}
    await api.http.patch(f"{WIDGETS}/held", content='{"metadata":{"finalizers":null}}',
                         headers=merge)  # fmt: skip

    async def gone() -> bool:
        return (await api.http.get(f"{CRDS}/widgets.example.com")).status_code == 404

    await _until(gone, "the CRD to go")
    await _until(lambda: _not_served(api), "the resource to stop being served")
    assert (await api.http.get("/apis/example.com")).status_code == 404


async def _not_served(api: Api) -> bool:
    return (await api.http.get(WIDGETS)).status_code == 404


async def test_a_restarted_loop_serves_stored_crds(api: Api) -> None:
    await _install(api)
    await api.create(WIDGETS, widget("kept"))
    for rt in list(api.ctx.registry):
        if rt.custom is not None:
            api.ctx.registry.remove(rt.group, rt.version, rt.plural)
    assert not await _served(api)
    again = CustomResourceDefinitions(api.ctx)
    await again.start()
    try:
        assert (await api.http.get(f"{WIDGETS}/kept")).status_code == 200
    finally:
        await again.stop()


async def test_cluster_scoped_crd(api: Api) -> None:
    cluster = copy.deepcopy(CRD)
    cluster["spec"]["scope"] = "Cluster"
    await _install(api, cluster, "/apis/example.com/v1/widgets")
    resp = await api.create("/apis/example.com/v1/widgets", widget("c"))
    assert resp.status_code == 201 and "namespace" not in resp.json()["metadata"]
    assert (await api.store.get("/registry/example.com/widgets/c")) is not None


async def test_the_loop_relists_when_its_watch_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    async with api_server() as a:
        real = a.store.watch
        failures = [StoreUnavailable("etcd went away"), Compacted(1, 5)]

        async def flaky(prefix: str, *, start_revision: int | None = None) -> Watch:
            if failures:
                raise failures.pop(0)
            return await real(prefix, start_revision=start_revision)

        monkeypatch.setattr(a.store, "watch", flaky)
        loop = CustomResourceDefinitions(a.ctx, retry_seconds=0.01)
        await loop.start()
        try:
            await _install(a)
            assert not failures
            await a.create(WIDGETS, widget("after"))
        finally:
            await loop.stop()


async def test_the_loop_ends_when_the_store_closes() -> None:
    async with api_server() as a:
        loop = CustomResourceDefinitions(a.ctx, retry_seconds=0.01)
        await loop.start()
        await a.store.close()
        task = loop._task
        assert task is not None
        await asyncio.wait_for(task, 5)
        await loop.stop()


async def test_a_crd_update_changes_what_is_served(api: Api) -> None:
    await _install(api)
    await api.create(WIDGETS, widget("u", colour="blue"))
    current = (await api.http.get(f"{CRDS}/widgets.example.com")).json()
    v1, v2 = current["spec"]["versions"]
    v1["storage"], v2["storage"] = False, True
    v1["served"] = False
    v2["additionalPrinterColumns"] = [{"name": "Tint", "type": "string",
                                       "jsonPath": ".spec.colour"}]  # fmt: skip
    assert (await api.http.put(f"{CRDS}/widgets.example.com", json=current)).status_code == 200
    await _until(lambda: _not_served(api), "v1 to stop being served")
    v2_path = "/apis/example.com/v2/namespaces/default/widgets"
    table = (await api.http.get(v2_path, headers={"accept": TABLE})).json()
    assert table["rows"][0]["cells"] == ["u", "blue"]

    async def both_stored() -> bool:
        got = (await api.http.get(f"{CRDS}/widgets.example.com")).json()
        return bool(got.get("status", {}).get("storedVersions") == ["v1", "v2"])

    await _until(both_stored, "storedVersions to list both")
    index = (await api.http.get("/openapi/v3")).json()["paths"]
    assert "apis/example.com/v1" not in index and "apis/example.com/v2" in index
