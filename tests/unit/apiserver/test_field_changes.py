"""`field_changes` (the diff managed fields are computed from) gives exactly what comparing
both objects' full `field_values` gives, while skipping the fields that are equal."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k3os.apiserver import apply
from k3os.apiserver import fieldpath as fp
from k3os.apiserver.fieldschema import UNTYPED, Node, builtin_root

pytestmark = pytest.mark.unit

Path = tuple[str, ...]


def _root(api_version: str, kind: str) -> Node:
    root = builtin_root(api_version, kind)
    assert root is not None
    return root


# A map of structs whose only declared field is a keyed list: a non-empty entry (`{"x":
# {"containers": []}}`) can be a member with nothing below it.
_ENTRY = Node("struct", fields={
    "containers": Node("list", elem=Node("struct", fields={"name": Node("scalar")}),
                       list_type="map", keys=("name",)),
    "ports": Node("list", elem=Node("scalar"), list_type="set"),
    "labels": Node("map", elem=Node("scalar"))})  # fmt: skip
MAP_OF_STRUCTS = Node("struct", fields={"spec": Node("map", elem=_ENTRY)})
ROOTS = [_root("v1", "Pod"), _root("v1", "Node"), UNTYPED, MAP_OF_STRUCTS]
KEYS = st.sampled_from(["metadata", "y", "spec", "status", "labels", "annotations", "finalizers",
                        "containers", "name", "image", "ports", "containerPort", "protocol",
                        "conditions", "type", "addresses", "address", "nodeInfo", "x",
                        "managedFields", "taints", "key", "effect", "images", "names"])  # fmt: skip
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-1, 2), st.sampled_from(["a", "TCP"]))
VALUES = st.recursive(
    LEAVES,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(KEYS, kids, max_size=4)),
    max_leaves=30,
)
OBJECTS = st.dictionaries(KEYS, VALUES, max_size=4)


def _reference(
    old: Any, new: Any, root: Node, reset: tuple[str, ...]
) -> tuple[set[Path], set[Path]]:
    """The definition: both objects' tracked paths in full, then compared."""
    before = apply._tracked(old, root, reset)
    after = apply._tracked(new, root, reset)
    parents = {p[:i] for p in (*before, *after) for i in range(len(p))}
    changed = {p for p in after if p not in before}
    changed |= {p for p in after if p in before and p not in parents and before[p] != after[p]}
    return changed, {p for p in before if p not in after}


def _mutate(data: st.DataObject, value: Any) -> Any:
    """`value` with one random part replaced, added or removed (the rest shared)."""
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        out = dict(value)
        key = data.draw(st.sampled_from(sorted(out)))
        action = data.draw(st.sampled_from(["descend", "drop", "add"]))
        if action == "descend":
            out[key] = _mutate(data, out[key])
        elif action == "drop":
            del out[key]
        else:
            out[data.draw(KEYS)] = data.draw(VALUES)
        return out
    if isinstance(value, list) and value and data.draw(st.booleans()):
        out_list = list(value)
        at = data.draw(st.integers(0, len(out_list) - 1))
        out_list[at] = _mutate(data, out_list[at])
        return out_list
    return data.draw(VALUES)


@settings(max_examples=400, deadline=None)
@given(
    old=OBJECTS, data=st.data(), which=st.integers(0, 3), reset=st.sampled_from([(), ("status",)])
)
def test_field_changes_equal_the_full_comparison(
    old: dict[str, Any], data: st.DataObject, which: int, reset: tuple[str, ...]
) -> None:
    root = ROOTS[which]
    new = _mutate(data, old) if data.draw(st.booleans()) else data.draw(OBJECTS)
    if not isinstance(new, dict):
        new = {"x": new}
    assert apply._changes(old, new, root, reset) == _reference(old, new, root, reset)


def test_a_changed_condition_is_the_only_change_of_a_node_status() -> None:
    node = _root("v1", "Node")
    old = {"metadata": {"name": "n", "labels": {"a": "1"}},
           "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "r"},
                                     {"type": "DiskPressure", "status": "False"}],
                      "nodeInfo": {"kernelVersion": "6.1"}}}  # fmt: skip
    conditions = [{"type": "Ready", "status": "False", "reason": "r"},
                  {"type": "DiskPressure", "status": "False"}]  # fmt: skip
    new = {**old, "status": {**old["status"], "conditions": conditions}}
    ready = ("f:status", "f:conditions", 'k:{"type":"Ready"}')
    assert fp.field_changes(old, new, node, lambda p: True) == ({(*ready, "f:status")}, set())
    assert apply._changes(old, new, node, ("status",)) == (set(), set())


def test_map_entries_change_as_leaves_only_when_nothing_is_below() -> None:
    old = {"spec": {"a": {"b": {"c": 1}}, "e": {"f": []}}}
    new = {"spec": {"a": {"b": {"c": 2}}, "e": {"f": [], "g": 1}}}
    got = fp.field_changes(old, new, UNTYPED, lambda p: True)
    assert got == _reference(old, new, UNTYPED, ())
    assert ("f:spec", "f:a", "f:b", "f:c") in got[0]
    old = {"spec": {"x": {"containers": []}, "y": {"labels": {}}}}
    new = {"spec": {"x": {"containers": [], "ports": []}, "y": {"containers": []}}}
    got = fp.field_changes(old, new, MAP_OF_STRUCTS, lambda p: True)
    assert got == _reference(old, new, MAP_OF_STRUCTS, ())
    assert got == ({("f:spec", "f:x")}, {("f:spec", "f:y", "f:labels")})
