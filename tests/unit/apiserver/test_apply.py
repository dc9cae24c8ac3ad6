"""Server-side apply and the managedFields of ordinary writes."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k3os.apiserver.apply import (
    ManagedEntry,
    decode_managed_fields,
    encode_managed_fields,
    server_side_apply,
    update_managed_fields,
)
from k3os.apiserver.errors import ApplyConflict
from k3os.apiserver.fieldschema import Node, builtin_root
from k3os.apiserver.patch import PatchError

pytestmark = pytest.mark.unit

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"


def _root(api_version: str = "v1", kind: str = "ConfigMap") -> Node:
    root = builtin_root(api_version, kind)
    assert root is not None
    return root


def _cm(data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", **meta},
        "data": data,
    }


def _owners(obj: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"]["managedFields"]}


def _apply(
    live: dict[str, Any] | None, config: dict[str, Any], manager: str, **kw: Any
) -> dict[str, Any]:
    return server_side_apply(
        live, config, manager=manager, root=kw.pop("root", _root()), now=kw.pop("now", T0), **kw
    )


def _update(
    old: dict[str, Any] | None, new: dict[str, Any], manager: str, **kw: Any
) -> dict[str, Any]:
    return update_managed_fields(
        old,
        new,
        manager=manager,
        root=kw.pop("root", _root()),
        api_version="v1",
        now=kw.pop("now", T1),
        **kw,
    )


def test_apply_creates_and_records_ownership() -> None:
    config = _cm({"a": "1"}, labels={"app": "web"})
    obj = _apply(None, config, "kubectl")
    assert obj["data"] == {"a": "1"}
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:app": {}}}},
        }
    ]
    assert "managedFields" not in config["metadata"]  # the input is not changed


def test_reapply_is_a_no_op() -> None:
    config = _cm({"a": "1"})
    once = _apply(None, config, "kubectl")
    assert _apply(once, config, "kubectl") == once


def test_conflict_with_an_updater_then_force() -> None:
    applied = _apply(None, _cm({"a": "1", "b": "2"}), "kubectl")
    edited = _update(applied, {**applied, "data": {"a": "9", "b": "2"}}, "kubectl-edit")
    assert _owners(edited)[("kubectl-edit", "Update")] == {"f:data": {"f:a": {}}}
    assert _owners(edited)[("kubectl", "Apply")] == {"f:data": {"f:b": {}}}
    with pytest.raises(ApplyConflict) as info:
        _apply(edited, _cm({"a": "1", "b": "2"}), "kubectl", now=T2)
    status = info.value.to_status()
    assert status["code"] == 409
    assert status["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.a'
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-edit" using v1',
            "field": ".data.a",
        }
    ]
    forced = _apply(edited, _cm({"a": "1", "b": "2"}), "kubectl", now=T2, force=True)
    assert forced["data"] == {"a": "1", "b": "2"}
    assert ("kubectl-edit", "Update") not in _owners(forced)  # it owned nothing else
    assert _owners(forced)[("kubectl", "Apply")] == {"f:data": {"f:a": {}, "f:b": {}}}


def test_same_value_is_shared_not_a_conflict() -> None:
    first = _apply(None, _cm({"a": "1", "b": "2"}), "one")
    both = _apply(first, _cm({"a": "1"}), "two")
    assert _owners(both) == {
        ("one", "Apply"): {"f:data": {"f:a": {}, "f:b": {}}},
        ("two", "Apply"): {"f:data": {"f:a": {}}},
    }
    # "one" stops applying a: "two" still owns it, so it stays.
    shrunk = _apply(both, _cm({"b": "2"}), "one")
    assert shrunk["data"] == {"a": "1", "b": "2"}
    # "one" stops applying b too: nobody else owns it, so it goes.
    bare = {k: v for k, v in _cm({}).items() if k != "data"}
    gone = _apply(shrunk, bare, "one")
    assert gone["data"] == {"a": "1"}
    assert ("one", "Apply") not in _owners(gone)
    # Applying an empty map owns the map itself.
    empty = _apply(shrunk, _cm({}), "one")
    assert _owners(empty)[("one", "Apply")] == {"f:data": {}}


def test_conflict_between_appliers_names_the_manager_only() -> None:
    first = _apply(None, _cm({"a": "1"}), "one")
    with pytest.raises(ApplyConflict, match=r'conflict with "one": \.data\.a'):
        _apply(first, _cm({"a": "2"}), "two")


def test_removed_fields_and_emptied_maps_are_pruned() -> None:
    obj = _apply(None, _cm({"a": "1"}, labels={"x": "1"}), "kubectl")
    pruned = _apply(obj, _cm({"a": "1"}), "kubectl")
    assert "labels" not in pruned["metadata"]
    # A field an updater added is not the applier's to remove.
    updated = _update(pruned, _cm({"a": "1", "z": "9"}, managedFields=None), "editor")
    assert updated["data"] == {"a": "1", "z": "9"}
    again = _apply(updated, _cm({}), "kubectl")
    assert again["data"] == {"z": "9"}


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "finalizers": ["a"]},
    "spec": {
        "containers": [{"name": "app", "image": "app:1"}],
        "tolerations": [{"key": "k1", "operator": "Exists"}],
    },
}


def test_apply_follows_list_types() -> None:
    pod = _root("v1", "Pod")
    live = _apply(None, POD, "kubectl", root=pod)
    sidecar = _update(
        live,
        {
            **live,
            "metadata": {**live["metadata"], "finalizers": ["a", "b"]},
            "spec": {
                **live["spec"],
                "containers": [*live["spec"]["containers"], {"name": "side", "image": "s"}],
            },
        },
        "injector",
        root=pod,
    )
    config = copy.deepcopy(POD)
    config["spec"]["containers"][0]["image"] = "app:2"
    config["spec"]["tolerations"] = [{"key": "k2", "operator": "Exists"}]
    config["metadata"]["finalizers"] = ["a", "c"]
    result = _apply(sidecar, config, "kubectl", root=pod, now=T2)
    # keyed list: merged element-wise, the injected sidecar stays
    assert result["spec"]["containers"] == [
        {"name": "app", "image": "app:2"},
        {"name": "side", "image": "s"},
    ]
    # atomic list: replaced; set: union
    assert result["spec"]["tolerations"] == [{"key": "k2", "operator": "Exists"}]
    assert result["metadata"]["finalizers"] == ["a", "b", "c"]
    # dropping the container the applier owns removes it, the sidecar stays
    config["spec"]["containers"] = [{"name": "other", "image": "o"}]
    final = _apply(result, config, "kubectl", root=pod, now=T2)
    assert [c["name"] for c in final["spec"]["containers"]] == ["side", "other"]


def test_apply_conflict_on_a_container_field_and_subresource_label() -> None:
    pod = _root("v1", "Pod")
    live = _apply(None, POD, "kubectl", root=pod)
    changed = copy.deepcopy(live)
    changed["spec"]["containers"][0]["image"] = "hot:fix"
    edited = _update(live, changed, "hotfixer", root=pod, subresource="status")
    config = copy.deepcopy(POD)
    with pytest.raises(ApplyConflict) as info:
        _apply(
            edited,
            {**config, "spec": {**config["spec"], "containers": [{"name": "app", "image": "x"}]}},
            "kubectl",
            root=pod,
        )
    assert info.value.conflicts[0].field == '.spec.containers[name="app"].image'
    assert info.value.conflicts[0].manager == '"hotfixer" with subresource "status" using v1'


def test_list_elements_without_keys_are_replaced() -> None:
    pod = _root("v1", "Pod")
    live = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"image": "x"}]},
    }
    result = _apply(live, {**live, "spec": {"containers": [{"image": "y"}]}}, "m", root=pod)
    assert result["spec"]["containers"] == [{"image": "y"}]


def test_nulls_and_reset_fields_are_ignored() -> None:
    config = {**_cm({"a": "1"}), "binaryData": None}
    obj = _apply(None, config, "m")
    assert "binaryData" not in obj
    pod = _root("v1", "Pod")
    with_status = {**POD, "status": {"phase": "Running"}}
    applied = _apply(None, with_status, "m", root=pod, reset_fields=["status"])
    assert "status" not in applied
    assert "f:status" not in _owners(applied)[("m", "Apply")]


@pytest.mark.parametrize(
    ("config", "manager", "fragment"),
    [
        (_cm({}), "", "fieldManager is required for apply requests"),
        ([1], "m", "apply patch must be an object"),
        (_cm({}, managedFields=[]), "m", "metadata.managedFields must be nil"),
    ],
)
def test_apply_refusals(config: Any, manager: str, fragment: str) -> None:
    with pytest.raises(PatchError, match=fragment):
        server_side_apply(None, config, manager=manager, root=_root(), now=T0)


def test_update_on_create_and_datetime_now() -> None:
    created = _update(None, _cm({"a": "1"}), "creator", now=dt.datetime(2026, 3, 4, 5, 6, 7))
    entry = created["metadata"]["managedFields"][0]
    assert entry["time"] == "2026-03-04T05:06:07Z"
    assert entry["operation"] == "Update"
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}} or entry["fieldsV1"] == {
        "f:data": {"f:a": {}}
    }
    aware = dt.datetime(2026, 3, 4, 7, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert (
        _update(None, _cm({"a": "1"}), "c", now=aware)["metadata"]["managedFields"][0]["time"]
        == "2026-03-04T05:06:07Z"
    )


def test_update_that_changes_nothing_keeps_entries() -> None:
    obj = _update(None, _cm({"a": "1"}), "creator", now=T0)
    same = _update(obj, obj, "someone-else", now=T2)
    assert same["metadata"]["managedFields"] == obj["metadata"]["managedFields"]


def test_update_removal_drops_ownership_everywhere() -> None:
    obj = _apply(None, _cm({"a": "1", "b": "2"}), "kubectl")
    removed = _update(
        obj, _cm({"a": "1"}, managedFields=obj["metadata"]["managedFields"]), "editor"
    )
    assert _owners(removed) == {("kubectl", "Apply"): {"f:data": {"f:a": {}}}}


def test_managed_fields_sent_by_the_client() -> None:
    obj = _apply(None, _cm({"a": "1"}), "kubectl")
    cleared = _update(obj, {**obj, "metadata": {**obj["metadata"], "managedFields": [{}]}}, "x")
    assert cleared["metadata"]["managedFields"] == []
    replacement = [
        {
            "manager": "mine",
            "operation": "Apply",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}},
        }
    ]
    taken = _update(
        obj, {**obj, "metadata": {**obj["metadata"], "managedFields": replacement}}, "x"
    )
    assert _owners(taken) == {("mine", "Apply"): {"f:data": {"f:a": {}}}}


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        ({}, "must be a list"),
        (["x"], r"managedFields\[0\] must be an object"),
        ([{"operation": "Delete"}], r"managedFields\[0\].operation: Unsupported value"),
        ([{"fieldsType": "FieldsV2"}], r"fieldsType: Unsupported value"),
        ([{"fieldsV1": {"bad": {}}}], r"managedFields\[0\].fieldsV1: fieldsV1 key 'bad'"),
    ],
)
def test_decode_managed_fields_errors(entries: Any, fragment: str) -> None:
    with pytest.raises(PatchError, match=fragment):
        decode_managed_fields(entries)


def test_encode_order_and_empty_entries() -> None:
    entries = [
        ManagedEntry("b", "Update", "v1", T1, fields={("f:data",)}),
        ManagedEntry("a", "Update", "v1", T0, fields={("f:x",)}),
        ManagedEntry("z", "Apply", "v1", T2, "status", fields={("f:y",)}),
        ManagedEntry("empty", "Apply"),
    ]
    encoded = encode_managed_fields(entries)
    assert [(e["manager"], e.get("subresource")) for e in encoded] == [
        ("z", "status"),
        ("a", None),
        ("b", None),
    ]
    assert decode_managed_fields(None) == []
    no_time = encode_managed_fields([ManagedEntry("m", "Apply", fields={("f:a",)})])
    assert "time" not in no_time[0]


_keys = st.sampled_from(["a", "b", "c"])
_configs = st.dictionaries(_keys, st.sampled_from(["1", "2"]), max_size=3)


@given(first=_configs, second=_configs, third=_configs)
def test_apply_properties(
    first: dict[str, str], second: dict[str, str], third: dict[str, str]
) -> None:
    obj = _apply(None, _cm(first), "one")
    obj = _apply(obj, _cm(second), "two", force=True)
    # Re-applying what a manager just applied changes nothing.
    assert _apply(obj, _cm(second), "two", force=True) == obj
    obj = _apply(obj, _cm(third), "one", force=True)
    # What the last applier applied is there, with its values.
    for key, value in third.items():
        assert obj["data"][key] == value
    # Every key left is owned by someone.
    owned = set()
    for entry in obj["metadata"]["managedFields"]:
        owned |= {k[2:] for k in entry["fieldsV1"].get("f:data", {})}
    assert set(obj.get("data", {})) <= owned


def test_reapply_matches_defaulted_key_fields() -> None:
    pod = _root("v1", "Pod")
    config = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]},
    }
    live = _apply(None, config, "kubectl", root=pod)
    live["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP"  # the server's defaulting
    again = _apply(live, config, "kubectl", root=pod)
    assert again["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_a_custom_kinds_field_schema_is_built_once_per_schema_object() -> None:
    from types import SimpleNamespace

    from k3os.apiserver.managed import _root

    def kind(schema: dict[str, Any]) -> Any:
        return SimpleNamespace(custom=SimpleNamespace(schema=schema))

    listed = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "items": {"type": "array", "x-kubernetes-list-type": "set",
                  "items": {"type": "string"}}}}}}  # fmt: skip
    first = _root(kind(listed))
    assert _root(kind(listed)) is first  # the same schema: the same tree
    changed = copy.deepcopy(listed)
    changed["properties"]["spec"]["properties"]["items"]["x-kubernetes-list-type"] = "atomic"
    again = _root(kind(changed))  # a CRD update brings a new schema object
    assert again is not first
    assert again.field("spec").field("items").list_type == "atomic"
    assert first.field("spec").field("items").list_type == "set"
