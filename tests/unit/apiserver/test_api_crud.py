"""Create, read, update and delete through the HTTP layer, in process on the memory store."""

from __future__ import annotations

import pytest

from tests.unit.apiserver._api import api_server, cm, pod

CMS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"


async def test_create_get_update_delete() -> None:
    async with api_server() as api:
        made = await api.create(CMS, cm("a", x="1"))
        assert made.status_code == 201
        obj = made.json()
        meta = obj["metadata"]
        assert meta["uid"] and meta["creationTimestamp"] == "2026-01-02T03:04:05Z"
        assert meta["resourceVersion"].isdigit()
        assert meta["managedFields"][0]["operation"] == "Update"
        got = (await api.http.get(f"{CMS}/a")).json()
        assert got["data"] == {"x": "1"}
        got["data"]["x"] = "2"
        updated = await api.http.put(f"{CMS}/a", json=got)
        assert updated.status_code == 200
        assert int(updated.json()["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
        stale = await api.http.put(f"{CMS}/a", json=got)
        assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
        unconditional = {**got, "metadata": {"name": "a"}, "data": {"x": "3"}}
        assert (await api.http.put(f"{CMS}/a", json=unconditional)).status_code == 200
        deleted = await api.http.delete(f"{CMS}/a")
        assert deleted.status_code == 200 and deleted.json()["status"] == "Success"
        missing = await api.http.get(f"{CMS}/a")
        assert missing.status_code == 404
        assert missing.json()["message"] == 'configmaps "a" not found'
        assert missing.json()["details"] == {"name": "a", "kind": "configmaps"}


async def test_create_errors() -> None:
    async with api_server() as api:
        await api.create(CMS, cm("dup"))
        again = await api.create(CMS, cm("dup"))
        assert again.status_code == 409 and again.json()["reason"] == "AlreadyExists"
        nameless = await api.create(CMS, {"metadata": {}, "data": {}})
        assert nameless.status_code == 422
        assert nameless.json()["details"]["causes"][0]["field"] == "metadata.name"
        bad_name = await api.create(CMS, cm("Bad_Name"))
        assert bad_name.status_code == 422
        wrong_ns = await api.create("/api/v1/namespaces/nope/configmaps", cm("x", "nope"))
        assert wrong_ns.status_code == 404 and "namespaces" in wrong_ns.json()["message"]
        typed = await api.create(CMS, {**cm("t"), "data": {"k": 5}})
        assert typed.status_code == 400 and "data.k" in typed.json()["message"]
        kind = await api.create(CMS, {**cm("k"), "kind": "Secret"})
        assert kind.status_code == 400
        mismatch = await api.create(CMS, cm("m", "kube-system"))
        assert mismatch.status_code == 400
        not_json = await api.http.post(
            CMS, content=b"{", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 400
        xml = await api.http.post(CMS, content=b"<a/>", headers={"content-type": "text/xml"})
        assert xml.status_code == 415
        gone = await api.http.get("/api/v1/nosuchthings")
        assert gone.status_code == 404
        assert (await api.http.post(f"{CMS}/x/status", json={})).status_code == 404


async def test_unknown_fields_by_field_validation() -> None:
    async with api_server() as api:
        body = {**cm("u"), "bogus": 1}
        strict = await api.create(CMS, body, fieldValidation="Strict")
        assert strict.status_code == 400 and 'unknown field "bogus"' in strict.json()["message"]
        warned = await api.create(CMS, body)
        assert warned.status_code == 201 and "bogus" not in warned.json()
        assert 'unknown field \\"bogus\\"' in warned.headers["warning"]
        ignored = await api.create(CMS, {**cm("v"), "bogus": 1}, fieldValidation="Ignore")
        assert "warning" not in ignored.headers
        odd = await api.create(CMS, cm("w"), fieldValidation="Loud")
        assert odd.status_code == 400


async def test_generate_name_dry_run_and_yaml() -> None:
    async with api_server() as api:
        made = await api.create(CMS, {"metadata": {"generateName": "gen-"}, "data": {}})
        assert made.json()["metadata"]["name"].startswith("gen-")
        dry = await api.create(CMS, cm("dry"), dryRun="All")
        assert dry.status_code == 201
        assert (await api.http.get(f"{CMS}/dry")).status_code == 404
        bad = await api.create(CMS, cm("dry"), dryRun="Some")
        assert bad.status_code == 400
        yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\ndata: {a: b}\n"
        made = await api.http.post(
            CMS, content=yaml_body, headers={"content-type": "application/yaml"}
        )
        assert made.status_code == 201
        as_yaml = await api.http.get(f"{CMS}/y", headers={"accept": "application/yaml"})
        assert as_yaml.headers["content-type"].startswith("application/yaml")
        assert b"name: y" in as_yaml.content
        proto_only = await api.http.get(
            f"{CMS}/y", headers={"accept": "application/vnd.kubernetes.protobuf"}
        )
        assert proto_only.status_code == 406


async def test_defaults_and_generation_follow_spec_only() -> None:
    async with api_server() as api:
        made = (await api.create(PODS, pod("p"))).json()
        spec = made["spec"]
        assert spec["restartPolicy"] == "Always" and spec["dnsPolicy"] == "ClusterFirst"
        assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
        assert made["status"]["phase"] == "Pending"
        assert made["metadata"]["generation"] == 1
        status = {**made, "status": {"phase": "Running"}}
        after_status = (await api.http.put(f"{PODS}/p/status", json=status)).json()
        assert after_status["status"]["phase"] == "Running"
        assert after_status["metadata"]["generation"] == 1
        # a main-resource write cannot change status
        sneaky = {**after_status, "status": {"phase": "Failed"}}
        kept = (await api.http.put(f"{PODS}/p", json=sneaky)).json()
        assert kept["status"]["phase"] == "Running" and kept["metadata"]["generation"] == 1
        kept["spec"]["containers"][0]["image"] = "img:2"
        bumped = (await api.http.put(f"{PODS}/p", json=kept)).json()
        assert bumped["metadata"]["generation"] == 2
        got = await api.http.get(f"{PODS}/p/status")
        assert got.json()["status"]["phase"] == "Running"
        ns = (await api.http.get("/api/v1/namespaces/default")).json()
        assert ns["spec"]["finalizers"] == ["kubernetes"] and ns["status"]["phase"] == "Active"
        secret = await api.create(
            "/api/v1/namespaces/default/secrets", {"metadata": {"name": "s"}, "data": {"a": "eA=="}}
        )
        assert secret.json()["type"] == "Opaque"
        not_b64 = await api.create(
            "/api/v1/namespaces/default/secrets", {"metadata": {"name": "t"}, "data": {"a": "%%"}}
        )
        assert not_b64.status_code == 400


async def test_events_share_storage_between_api_groups() -> None:
    async with api_server() as api:
        core = {
            "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Started",
            "message": "hello",
            "type": "Normal",
            "count": 2,
        }
        assert (await api.create("/api/v1/namespaces/default/events", core)).status_code == 201
        new = (await api.http.get("/apis/events.k8s.io/v1/namespaces/default/events/e1")).json()
        assert new["apiVersion"] == "events.k8s.io/v1"
        assert new["regarding"]["name"] == "p" and new["note"] == "hello"
        assert new["deprecatedCount"] == 2
        made = await api.create(
            "/apis/events.k8s.io/v1/namespaces/default/events",
            {"metadata": {"name": "e2"}, "regarding": {"kind": "Node", "name": "n"},
             "note": "from v1", "reason": "R", "type": "Warning",
             "eventTime": "2026-01-02T03:04:05.000000Z", "reportingController": "c",
             "reportingInstance": "i", "action": "A"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        old = (await api.http.get("/api/v1/namespaces/default/events/e2")).json()
        assert old["involvedObject"]["name"] == "n" and old["message"] == "from v1"
        by_field = await api.http.get(
            "/api/v1/namespaces/default/events", params={"fieldSelector": "involvedObject.name=p"}
        )
        assert [e["metadata"]["name"] for e in by_field.json()["items"]] == ["e1"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/apis/coordination.k8s.io/v1/namespaces/default/leases",
         {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}}),
        ("/apis/rbac.authorization.k8s.io/v1/clusterroles",
         {"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "apiGroups": [""],
                                                "resources": ["pods"]}]}),
        ("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
         {"metadata": {"name": "rb"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                  "kind": "Role", "name": "x"},
          "subjects": [{"kind": "User", "name": "u"}]}),
        ("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "sa"}}),
        ("/api/v1/nodes", {"metadata": {"name": "n1"}}),
    ],
)  # fmt: skip
async def test_other_builtin_kinds(path: str, body: dict[str, object]) -> None:
    async with api_server() as api:
        made = await api.create(path, body)
        assert made.status_code == 201, made.text
        name = made.json()["metadata"]["name"]
        assert (await api.http.get(f"{path}/{name}")).status_code == 200
        assert (await api.http.delete(f"{path}/{name}")).status_code == 200


async def test_rbac_required_fields_are_invalid() -> None:
    async with api_server() as api:
        bad = await api.create(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            {"metadata": {"name": "rb"}},
        )
        assert bad.status_code == 422
        assert bad.json()["details"]["causes"][0]["field"] == "roleRef"


async def test_label_keys_and_values_are_checked() -> None:
    async with api_server() as api:
        body = cm("l")
        body["metadata"]["labels"] = {"bad key": "x", "ok": "no spaces allowed"}
        bad = await api.create(CMS, body)
        assert bad.status_code == 422
        fields = {c["field"] for c in bad.json()["details"]["causes"]}
        assert fields == {"metadata.labels"}
        body["metadata"]["labels"] = {"example.com/tier": "front-1"}
        assert (await api.create(CMS, body)).status_code == 201


async def test_oversized_bodies_are_refused() -> None:
    async with api_server() as api:
        big = cm("big", v="x" * (3 * 1024 * 1024))
        resp = await api.create(CMS, big)
        assert resp.status_code == 413 and resp.json()["reason"] == "RequestEntityTooLarge"

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(4):
                yield b" " * (1024 * 1024)

        streamed = await api.http.post(CMS, content=chunks())
        assert streamed.status_code == 413
