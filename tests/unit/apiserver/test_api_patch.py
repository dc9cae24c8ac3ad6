"""PATCH in all four types, server-side apply, protobuf bodies, and pods/eviction."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.apiserver._api import Api, api_server, cm, pod

CMS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"


async def _patch(api: Api, path: str, body: Any, kind: str, **params: str) -> Any:
    return await api.http.patch(
        path,
        content=json.dumps(body).encode() if not isinstance(body, bytes) else body,
        headers={"content-type": f"application/{kind}"},
        params=params,
    )


async def test_json_merge_and_strategic_patches() -> None:
    async with api_server() as api:
        await api.create(CMS, cm("m", a="1"))
        r = await _patch(api, f"{CMS}/m", [{"op": "add", "path": "/data/b", "value": "2"}],
                         "json-patch+json")  # fmt: skip
        assert r.json()["data"] == {"a": "1", "b": "2"}
        r = await _patch(api, f"{CMS}/m", {"data": {"a": None}}, "merge-patch+json")
        assert r.json()["data"] == {"b": "2"}
        failed_test = await _patch(
            api, f"{CMS}/m", [{"op": "test", "path": "/data/b", "value": "9"}], "json-patch+json"
        )
        assert failed_test.status_code == 422
        stale = await _patch(api, f"{CMS}/m", {"metadata": {"resourceVersion": "1"}},
                             "merge-patch+json")  # fmt: skip
        assert stale.status_code == 409
        await api.create(PODS, pod("s"))
        two = {"spec": {"containers": [{"name": "side", "image": "img:2"}]}}
        r = await _patch(api, f"{PODS}/s", two, "strategic-merge-patch+json")
        assert [c["name"] for c in r.json()["spec"]["containers"]] == ["c", "side"]
        assert r.json()["metadata"]["generation"] == 2
        status = {"status": {"phase": "Running"}}
        r = await _patch(api, f"{PODS}/s/status", status, "merge-patch+json")
        assert r.json()["status"]["phase"] == "Running" and r.json()["metadata"]["generation"] == 2
        bad = await _patch(api, f"{CMS}/m", {"data": {}}, "xml")
        assert bad.status_code == 415
        missing = await _patch(api, f"{CMS}/none", {"data": {}}, "merge-patch+json")
        assert missing.status_code == 404
        broken = await _patch(api, f"{CMS}/m", b"{", "merge-patch+json")
        assert broken.status_code == 400
        typed = await _patch(api, f"{CMS}/m", {"data": {"x": 1}}, "merge-patch+json")
        assert typed.status_code == 400
        dry = await _patch(api, f"{CMS}/m", {"data": {"z": "1"}}, "merge-patch+json", dryRun="All")
        assert dry.json()["data"]["z"] == "1"
        assert "z" not in (await api.http.get(f"{CMS}/m")).json()["data"]


async def test_server_side_apply_creates_merges_and_conflicts() -> None:
    async with api_server() as api:
        cfg = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sa}\ndata: {k: one}\n"
        missing_manager = await _patch(api, f"{CMS}/sa", cfg.encode(), "apply-patch+yaml")
        assert missing_manager.status_code == 400
        made = await _patch(api, f"{CMS}/sa", cfg.encode(), "apply-patch+yaml", fieldManager="a")
        assert made.status_code == 201 and made.json()["data"] == {"k": "one"}
        entries = made.json()["metadata"]["managedFields"]
        assert [(e["manager"], e["operation"]) for e in entries] == [("a", "Apply")]
        other = cfg.replace("one", "two").encode()
        conflict = await _patch(api, f"{CMS}/sa", other, "apply-patch+yaml", fieldManager="b")
        assert conflict.status_code == 409
        assert conflict.json()["details"]["causes"][0]["field"] == ".data.k"
        forced = await _patch(api, f"{CMS}/sa", other, "apply-patch+yaml", fieldManager="b",
                              force="true")  # fmt: skip
        assert forced.status_code == 200 and forced.json()["data"] == {"k": "two"}
        wrong = cfg.replace("name: sa", "name: other").encode()
        named = await _patch(api, f"{CMS}/sa", wrong, "apply-patch+yaml", fieldManager="a")
        assert named.status_code == 400
        listy = await _patch(api, f"{CMS}/sa", b"[1]", "apply-patch+yaml", fieldManager="a")
        assert listy.status_code == 400


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _entry(key: str, value: bytes) -> bytes:
    return _field(1, key.encode()) + _field(2, value)


def _envelope(api_version: str, kind: str, message: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return b"k8s\x00" + _field(1, type_meta) + _field(2, message)


PROTO = {"content-type": "application/vnd.kubernetes.protobuf"}


async def test_protobuf_bodies_of_typed_clients() -> None:
    async with api_server() as api:
        meta = _field(1, b"pb") + _field(11, _entry("app", b"x")) + _field(14, b"f/1")
        message = _field(1, meta) + _field(2, _entry("k", b"v"))
        made = await api.http.post(
            CMS, content=_envelope("v1", "ConfigMap", message), headers=PROTO
        )
        assert made.status_code == 201, made.text
        obj = made.json()
        assert obj["data"] == {"k": "v"} and obj["metadata"]["labels"] == {"app": "x"}
        assert obj["metadata"]["finalizers"] == ["f/1"]
        secret = (
            _field(1, _field(1, b"sec"))
            + _field(2, _entry("p", b"\x00\x01"))
            + _field(3, b"Opaque")
        )
        made = await api.http.post(
            "/api/v1/namespaces/default/secrets",
            content=_envelope("v1", "Secret", secret), headers=PROTO,
        )  # fmt: skip
        assert made.json()["data"] == {"p": "AAE="}
        pods = _envelope("v1", "Pod", _field(1, _field(1, b"p")))
        assert (await api.http.post(PODS, content=pods, headers=PROTO)).status_code == 415
        assert (await api.http.post(CMS, content=b"nope", headers=PROTO)).status_code == 400
        truncated = _envelope("v1", "ConfigMap", message)[:-3]
        assert (await api.http.post(CMS, content=truncated, headers=PROTO)).status_code == 400
        delete_options = _envelope("meta.k8s.io/v1", "DeleteOptions", _varint(1 << 3) + _varint(0))
        gone = await api.http.request("DELETE", f"{CMS}/pb", content=delete_options, headers=PROTO)
        assert gone.status_code == 200
        assert gone.json()["metadata"]["deletionTimestamp"]  # held by its finalizer


def _running(name: str, labels: dict[str, str], ready: bool = True) -> dict[str, Any]:
    body = pod(name, node="n1", labels=labels)
    body["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    return body


async def _make_running(api: Api, body: dict[str, Any]) -> None:
    made = (await api.create(PODS, body)).json()
    made["status"] = body["status"]
    assert (await api.http.put(f"{PODS}/{body['metadata']['name']}/status", json=made)).is_success


EVICT = {"apiVersion": "policy/v1", "kind": "Eviction", "deleteOptions": {"gracePeriodSeconds": 0}}


@pytest.mark.parametrize("budget", [{"minAvailable": 2}, {"maxUnavailable": 0},
                                    {"minAvailable": "100%"}])  # fmt: skip
async def test_eviction_respects_the_budget(budget: dict[str, Any]) -> None:
    async with api_server() as api:
        for name in ("a", "b"):
            await _make_running(api, _running(name, {"app": "e"}))
        pdb = {"metadata": {"name": "pdb"},
               "spec": {**budget, "selector": {"matchLabels": {"app": "e"}}}}  # fmt: skip
        await api.create("/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb)
        blocked = await api.http.post(f"{PODS}/a/eviction", json=EVICT)
        assert blocked.status_code == 429
        body = blocked.json()
        assert body["reason"] == "TooManyRequests"
        assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
        assert (await api.http.get(f"{PODS}/a")).status_code == 200


async def test_eviction_allowed_by_the_budget_spends_it() -> None:
    async with api_server() as api:
        for name in ("a", "b", "c"):
            await _make_running(api, _running(name, {"app": "e"}))
        await _make_running(api, _running("sick", {"app": "e"}, ready=False))
        pdb = {"metadata": {"name": "pdb"},
               "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "e"}}}}  # fmt: skip
        await api.create("/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb)
        ok = await api.http.post(f"{PODS}/a/eviction", json=EVICT)
        assert ok.status_code == 201 and ok.json()["status"] == "Success"
        assert (await api.http.get(f"{PODS}/a")).status_code == 404
        pdb_url = "/apis/policy/v1/namespaces/default/poddisruptionbudgets/pdb"
        status = (await api.http.get(pdb_url)).json()["status"]
        assert status["disruptedPods"] == {"a": "2026-01-02T03:04:05Z"}
        # an unready pod may go while the healthy ones meet the budget
        assert (await api.http.post(f"{PODS}/sick/eviction", json=EVICT)).status_code == 201
        assert (await api.http.post(f"{PODS}/b/eviction", json=EVICT)).status_code == 429
        await api.create(PODS, pod("pending", labels={"app": "e"}))
        assert (await api.http.post(f"{PODS}/pending/eviction", json=EVICT)).status_code == 201
        wrong = await api.http.post(f"{PODS}/b/eviction", json={"metadata": {"name": "c"}})
        assert wrong.status_code == 400
        assert (await api.http.post(f"{PODS}/b/eviction", json={"kind": "Pod"})).status_code == 400


async def test_two_budgets_on_one_pod_is_an_error() -> None:
    async with api_server() as api:
        await _make_running(api, _running("a", {"app": "e"}))
        for name in ("one", "two"):
            selector = {"matchLabels": {"app": "e"}}
            pdb = {"metadata": {"name": name}, "spec": {"maxUnavailable": 1, "selector": selector}}
            await api.create("/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb)
        assert (await api.http.post(f"{PODS}/a/eviction", json=EVICT)).status_code == 500


async def test_applied_ports_match_their_defaulted_live_items() -> None:
    async with api_server() as api:
        cfg = (
            b"apiVersion: v1\nkind: Pod\nmetadata: {name: ports}\nspec:\n  containers:\n"
            b"  - name: c\n    image: img:1\n    ports: [{containerPort: 80}]\n"
        )
        for _ in range(2):
            r = await _patch(api, f"{PODS}/ports", cfg, "apply-patch+yaml", fieldManager="m")
            assert r.is_success, r.text
        ports = r.json()["spec"]["containers"][0]["ports"]
        assert ports == [{"containerPort": 80, "protocol": "TCP"}]
        assert r.json()["metadata"]["generation"] == 1


NODES = "/api/v1/nodes"

# A node's life in patches, as its agent and the controllers write them: (manager,
# subresource, patch type, body). Each is sent twice in a row where it changes nothing
# the second time.
_NODE_LIFE: list[tuple[str, str, str, Any]] = [
    ("ctl", "", "merge-patch+json", {"metadata": {"annotations": {"p/req": "1", "p/rec": "a"}}}),
    ("agent", "status", "json-patch+json", [
        {"op": "test", "path": "/status/conditions/0/type", "value": "Ready"},
        {"op": "add", "path": "/status/conditions/0/message", "value": "up"},
        {"op": "add", "path": "/status/capacity", "value": {"cpu": "2"}},
    ]),
    ("agent", "", "merge-patch+json",
     {"metadata": {"labels": {"v": "2"}, "annotations": {"p/out": "done"}}}),
    ("ctl", "", "merge-patch+json",
     {"metadata": {"labels": {"p/done": "h"}, "annotations": {"p/req": None, "p/rec": "b"}}}),
    ("agent", "status", "strategic-merge-patch+json",
     {"status": {"conditions": [{"type": "DiskPressure", "status": "False"}]}}),
    ("ctl", "", "strategic-merge-patch+json",
     {"spec": {"unschedulable": True, "taints": [{"key": "k", "effect": "NoSchedule"}]}}),
    ("ctl", "", "json-patch+json", [
        {"op": "move", "from": "/metadata/annotations/p~1rec",
         "path": "/metadata/annotations/p~1old"},
        {"op": "remove", "path": "/spec/taints/0"},
    ]),
    ("other", "", "merge-patch+json", {"metadata": {"labels": {"bad label": "x"}}}),
    ("other", "", "json-patch+json",
     [{"op": "test", "path": "/spec/unschedulable", "value": False}]),
    ("other", "", "merge-patch+json", {"metadata": {"labels": {"v": None}}, "spec": None}),
]  # fmt: skip


async def _node_life(api: Api) -> list[Any]:
    node = {"metadata": {"name": "n", "labels": {"a": "1"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip
    seen: list[Any] = [(await api.create(NODES, node)).status_code]
    for manager, sub, kind, body in _NODE_LIFE:
        for _ in range(2):
            path = f"{NODES}/n/{sub}" if sub else f"{NODES}/n"
            r = await _patch(api, path, body, kind, fieldManager=manager)
            answer = r.json()
            answer.get("metadata", {}).pop("uid", None)
            seen.append((r.status_code, answer))
    stored = (await api.http.get(f"{NODES}/n")).json()
    stored["metadata"].pop("uid")
    return [*seen, stored]


async def test_patches_that_share_the_stored_object_write_what_copies_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A patched Node shares what the patch left alone with the object read from the
    store; every answer, managedFields entry and stored version is the one the copying
    path gives."""
    from k3os.apiserver import patching

    async with api_server() as api:
        shared = await _node_life(api)
    monkeypatch.setattr(patching, "defaults_stay_shallow", lambda group, kind: False)
    async with api_server() as api:
        copied = await _node_life(api)
    assert [s[0] for s in shared[1:-1]] == [200] * 13 + [422] * 5 + [200] * 2
    assert shared == copied


async def test_a_default_missing_from_the_stored_object_is_written_by_a_shared_patch() -> None:
    """Defaults land in the patched object's own labels, not in the stored object it
    shares the rest with: an empty patch of a Node stored without its hostname label
    writes the label."""
    async with api_server() as api:
        await api.create(NODES, {"metadata": {"name": "n", "labels": {"a": "1"}}})
        key = api.ctx.registry.lookup("", "v1", "nodes").key("", "n")  # type: ignore[union-attr]
        kv = await api.store.get(key)
        assert kv is not None
        bare = json.loads(kv.value)
        del bare["metadata"]["labels"]["kubernetes.io/hostname"]
        await api.store.update(
            key, json.dumps(bare).encode(), expected_mod_revision=kv.mod_revision
        )
        r = await _patch(api, f"{NODES}/n", {}, "merge-patch+json")
        labels = {"a": "1", "kubernetes.io/hostname": "n"}
        assert r.json()["metadata"]["labels"] == labels
        stored = await api.store.get(key)
        assert stored is not None
        assert json.loads(stored.value)["metadata"]["labels"] == labels


async def test_only_the_labels_a_write_changes_are_judged() -> None:
    """Labels stored were judged when written; a write judges those it adds or changes."""
    async with api_server() as api:
        await api.create(NODES, {"metadata": {"name": "n", "labels": {"a": "1"}}})
        r = await _patch(api, f"{NODES}/n", {"metadata": {"labels": {"a": "-x"}}},
                         "merge-patch+json")  # fmt: skip
        assert r.status_code == 422 and "metadata.labels" in r.text
        r = await _patch(api, f"{NODES}/n", {"metadata": {"labels": {"b/c/d": "1"}}},
                         "merge-patch+json")  # fmt: skip
        assert r.status_code == 422
        r = await _patch(api, f"{NODES}/n", {"metadata": {"labels": {"b": "2"}}},
                         "merge-patch+json")  # fmt: skip
        assert r.status_code == 200
        assert r.json()["metadata"]["labels"] == {
            "a": "1", "b": "2", "kubernetes.io/hostname": "n"
        }  # fmt: skip
