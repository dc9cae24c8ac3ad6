"""delete and deletecollection: finalizers, grace, namespaces, preconditions, propagation."""

from __future__ import annotations

from tests.unit.apiserver._api import api_server, cm, pod

CMS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"


async def test_finalizers_hold_the_object_until_removed() -> None:
    async with api_server() as api:
        body = cm("f")
        body["metadata"]["finalizers"] = ["x/y"]
        await api.create(CMS, body)
        marked = await api.http.delete(f"{CMS}/f")
        assert marked.status_code == 200
        obj = marked.json()
        assert obj["metadata"]["deletionTimestamp"] == "2026-01-02T03:04:05Z"
        again = await api.http.delete(f"{CMS}/f")  # idempotent while held
        assert again.json()["metadata"]["deletionTimestamp"] == obj["metadata"]["deletionTimestamp"]
        obj["metadata"]["finalizers"] = []
        freed = await api.http.put(f"{CMS}/f", json=obj)
        assert freed.status_code == 200
        assert (await api.http.get(f"{CMS}/f")).status_code == 404


async def test_propagation_policies_add_gc_finalizers() -> None:
    async with api_server() as api:
        await api.create(CMS, cm("fg"))
        fg = await api.http.request("DELETE", f"{CMS}/fg", json={"propagationPolicy": "Foreground"})
        assert fg.json()["metadata"]["finalizers"] == ["foregroundDeletion"]
        await api.create(CMS, cm("or"))
        orphan = await api.http.delete(f"{CMS}/or", params={"orphanDependents": "true"})
        assert orphan.json()["metadata"]["finalizers"] == ["orphan"]
        await api.create(CMS, cm("bg"))
        bg = await api.http.delete(f"{CMS}/bg", params={"propagationPolicy": "Background"})
        assert bg.json()["status"] == "Success"
        bad = await api.http.delete(f"{CMS}/or", params={"propagationPolicy": "Sideways"})
        assert bad.status_code == 400
        both = await api.http.request(
            "DELETE", f"{CMS}/or", json={"propagationPolicy": "Orphan", "orphanDependents": True}
        )
        assert both.status_code == 400
        assert (await api.http.request("DELETE", f"{CMS}/or", content=b"[1]")).status_code == 400


async def test_preconditions_and_dry_run() -> None:
    async with api_server() as api:
        made = (await api.create(CMS, cm("p"))).json()
        wrong_uid = await api.http.request(
            "DELETE", f"{CMS}/p", json={"preconditions": {"uid": "other"}}
        )
        assert wrong_uid.status_code == 409 and "Precondition failed" in wrong_uid.json()["message"]
        wrong_rv = await api.http.request(
            "DELETE", f"{CMS}/p", json={"preconditions": {"resourceVersion": "1"}}
        )
        assert wrong_rv.status_code == 409
        dry = await api.http.delete(f"{CMS}/p", params={"dryRun": "All"})
        assert dry.status_code == 200
        assert (await api.http.get(f"{CMS}/p")).status_code == 200
        ok = await api.http.request(
            "DELETE", f"{CMS}/p", json={"preconditions": {"uid": made["metadata"]["uid"]}}
        )
        assert ok.status_code == 200
        assert (await api.http.delete(f"{CMS}/p")).status_code == 404


async def test_pods_on_a_node_are_deleted_gracefully() -> None:
    async with api_server() as api:
        await api.create(PODS, pod("bound", node="n1"))
        first = (await api.http.delete(f"{PODS}/bound")).json()
        assert first["metadata"]["deletionGracePeriodSeconds"] == 30
        assert first["metadata"]["deletionTimestamp"] == "2026-01-02T03:04:35Z"
        shorter = (
            await api.http.delete(f"{PODS}/bound", params={"gracePeriodSeconds": "5"})
        ).json()
        assert shorter["metadata"]["deletionGracePeriodSeconds"] == 5
        final = await api.http.delete(f"{PODS}/bound", params={"gracePeriodSeconds": "0"})
        assert final.json()["kind"] == "Pod"
        assert (await api.http.get(f"{PODS}/bound")).status_code == 404
        await api.create(PODS, pod("loose"))
        assert (await api.http.delete(f"{PODS}/loose")).status_code == 200
        assert (await api.http.get(f"{PODS}/loose")).status_code == 404


async def test_namespace_deletion_waits_for_its_finalizer() -> None:
    async with api_server() as api:
        await api.create("/api/v1/namespaces", {"metadata": {"name": "doomed"}})
        await api.create("/api/v1/namespaces/doomed/configmaps", cm("x", "doomed"))
        ns = (await api.http.delete("/api/v1/namespaces/doomed")).json()
        assert ns["status"]["phase"] == "Terminating"
        refused = await api.create("/api/v1/namespaces/doomed/configmaps", cm("y", "doomed"))
        assert refused.status_code == 403
        ns["spec"]["finalizers"] = []
        done = await api.http.put("/api/v1/namespaces/doomed/finalize", json=ns)
        assert done.status_code == 200
        assert (await api.http.get("/api/v1/namespaces/doomed")).status_code == 404


async def test_delete_collection_by_selector() -> None:
    async with api_server() as api:
        for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
            body = cm(name)
            body["metadata"]["labels"] = {"tier": tier}
            await api.create(CMS, body)
        gone = await api.http.delete(CMS, params={"labelSelector": "tier=x"})
        assert [c["metadata"]["name"] for c in gone.json()["items"]] == ["a", "b"]
        left = (await api.http.get(CMS)).json()["items"]
        assert [c["metadata"]["name"] for c in left] == ["c"]


async def test_methods_that_do_not_apply() -> None:
    async with api_server() as api:
        assert (await api.http.post(f"{CMS}/named", json=cm("named"))).status_code == 405
        assert (await api.http.put(CMS, json=cm("x"))).status_code == 405
        patched = await api.http.patch(
            CMS, content=b"{}", headers={"content-type": "application/merge-patch+json"}
        )
        assert patched.status_code == 405
        await api.create(PODS, pod("p"))
        assert (await api.http.get(f"{PODS}/p/eviction")).status_code == 405
        assert (await api.http.post(f"{PODS}/p/status", json={})).status_code == 405
