"""`field_changes` (the diff managed fields are computed from) gives exactly what comparing
both objects' full `field_values` gives, while skipping the fields that are equal."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
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


@contextlib.contextmanager
def _without(path: str) -> Iterator[None]:
    """The managedFields bookkeeping without one of its shortcuts (`apply.<path>`)."""
    original = getattr(apply, path)
    setattr(apply, path, lambda *args: None)
    try:
        yield
    finally:
        setattr(apply, path, original)


@contextlib.contextmanager
def _recording(path: str) -> Iterator[list[Any]]:
    """What `apply.<path>` answers while the block runs, in order."""
    original = getattr(apply, path)
    answers: list[Any] = []

    def recorded(*args: Any) -> Any:
        answers.append(original(*args))
        return answers[-1]

    setattr(apply, path, recorded)
    try:
        yield answers
    finally:
        setattr(apply, path, original)


def _history(root: Node, steps: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    old: dict[str, Any] | None = None
    for i, (manager, sub, obj) in enumerate(steps):
        old = apply.update_managed_fields(
            old, obj, manager=manager, root=root, api_version="v1",
            now=f"2026-01-01T00:00:0{i}Z", subresource=sub,
        )  # fmt: skip
        objs.append(old)
    return objs


@settings(max_examples=200, deadline=None)
@given(first=OBJECTS, data=st.data(), which=st.integers(0, 3))
def test_the_quick_path_stores_what_the_full_bookkeeping_stores(
    first: dict[str, Any], data: st.DataObject, which: int
) -> None:
    """Writes by a few managers in turn, with and without the path that skips decoding
    the managedFields when no field changes owner."""
    root = ROOTS[which]
    managers, subs = st.sampled_from(["a", "b", "c"]), st.sampled_from(["", "status"])
    first = {k: v for k, v in first.items() if k != "metadata"}  # the history's own
    steps = [(data.draw(managers), data.draw(subs), first)]
    for _ in range(4):
        obj = _mutate(data, steps[-1][2])
        obj = {k: v for k, v in obj.items() if k != "metadata"} if isinstance(obj, dict) else {}
        same = data.draw(st.booleans())
        steps.append((*steps[-1][:2], obj) if same else (data.draw(managers), data.draw(subs), obj))
    quick = _history(root, steps)
    with _without("_same_owners"):
        touched = _history(root, steps)  # entries decoded only where a field moves
        with _without("_touched_only"):
            full = _history(root, steps)
    for history in (quick, touched):
        assert history == full
        assert [json.dumps(q) for q in history] == [json.dumps(f) for f in full]  # same order


def test_the_quick_path_refuses_what_it_cannot_decide() -> None:
    same = apply._same_owners
    path = ("f:data", "f:x")
    owned = {"f:data": {"f:x": {}}}
    assert same(None, "m", "", {path}, set(), "v1", "t") is None
    assert same([{"manager": "m", "fieldsType": "FieldsV2", "fieldsV1": {}}],
                "m", "", set(), set(), "v1", "t") is None  # fmt: skip
    dup = [{"manager": "m", "fieldsV1": owned}, {"manager": "m", "fieldsV1": owned}]
    assert same(dup, "m", "", {path}, set(), "v1", "t") is None
    assert same([{"manager": "m", "fieldsV1": owned}], "m", "", set(), {path}, "v1", "t") is None
    assert same([{"manager": "o", "fieldsV1": owned}], "m", "", {path}, set(), "v1", "t") is None
    kept = [{"manager": "m", "fieldsV1": owned}]
    assert same(kept, "m", "", set(), set(), "v1", "t") == kept


def test_repeated_writes_of_the_same_fields_take_the_quick_path() -> None:
    """A kubelet's heartbeats and a controller's annotation rewrites: the fields stay with
    their owners, so the entries are not decoded; the result is the full path's."""
    root = _root("v1", "Node")
    base = {"metadata": {"name": "n", "labels": {"a": "1"}}, "spec": {"podCIDR": "10.0.0.0/24"}}

    def status(beat: int) -> dict[str, Any]:
        return {**base, "status": {"conditions": [{"type": "Ready", "status": "True",
                "lastHeartbeatTime": f"t{beat}"}], "nodeInfo": {"bootID": "b"}}}  # fmt: skip

    def annotated(obj: dict[str, Any], value: str) -> dict[str, Any]:
        meta = {**obj["metadata"], "annotations": {"plan": value}}
        return {**obj, "metadata": meta}

    steps = [("agent", "", base), ("kubelet", "status", status(1)),
             ("kubelet", "status", status(2)), ("plan", "", annotated(status(2), "x")),
             ("plan", "", annotated(status(2), "y")),
             ("kubelet", "status", annotated(status(3), "y")),
             ("kubelet", "status", annotated(status(3), "y"))]  # fmt: skip
    with _recording("_same_owners") as answers:
        quick = _history(root, steps)
    with _without("_same_owners"), _without("_touched_only"):
        full = _history(root, steps)
    assert quick == full and [json.dumps(q) for q in quick] == [json.dumps(f) for f in full]
    assert [got is not None for got in answers] == [False, False, True, False, True, True, True]
    entries = quick[-1]["metadata"]["managedFields"]
    assert [(e["manager"], e["time"]) for e in entries] == [
        ("agent", "2026-01-01T00:00:00Z"), ("plan", "2026-01-01T00:00:04Z"),
        ("kubelet", "2026-01-01T00:00:05Z")]  # fmt: skip


def test_a_field_changing_owner_decodes_only_the_entries_it_touches() -> None:
    """A rollout's hand-off: the controller clears the outcome the agent wrote, the agent
    writes a new one, the controller takes it. The fields move between the two, so the
    quick path cannot keep the entries; the status entry, which owns none of them, is kept
    as stored, and what is stored is the full path's."""
    root = _root("v1", "Node")
    status = {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"bootID": "b"}}

    def node(annotations: dict[str, str]) -> dict[str, Any]:
        return {"metadata": {"name": "n", "annotations": annotations}, "status": status}

    steps = [("kubelet", "status", node({})),
             ("agent", "", node({"outcome": "1"})),
             ("plan", "", node({"record": "a"})),  # drops the agent's outcome
             ("agent", "", node({"record": "a", "outcome": "2"})),
             ("plan", "", node({"record": "b", "outcome": "2"})),
             ("plan", "", node({"record": "c"}))]  # fmt: skip
    with _recording("_touched_only") as seen:
        touched = _history(root, steps)
    with _without("_same_owners"), _without("_touched_only"):
        full = _history(root, steps)
    assert touched == full and [json.dumps(t) for t in touched] == [json.dumps(f) for f in full]
    assert all(got is not None for got in seen[1:]) and len(seen) >= 4
    managers = [e["manager"] for e in touched[-1]["metadata"]["managedFields"]]
    assert managers == ["kubelet", "plan"]  # the agent's entry went with its last field


@pytest.mark.parametrize(
    ("old", "new", "by_element"),
    [
        # an element named twice: the whole list is compared
        ([{"type": "a", "status": "1"}, {"type": "a", "reason": "r"}],
         [{"type": "a", "status": "2"}, {"type": "a", "reason": "r"}], False),
        # elements without their key fall back to positions
        ([{"status": "1"}, {"type": "b"}], [{"status": "2"}, {"type": "b"}], False),
        # a key that is itself an object; an element dropped, one added
        ([{"type": {"k": 1}, "x": {"y": [1]}}, {"type": "c"}],
         [{"type": {"k": 1}, "x": {"y": [2]}}, {"type": "d"}], True),
        ([{"type": "a", "x": {}}], [{"type": "a", "x": {"z": None}}], True),
    ],
)  # fmt: skip
def test_keyed_lists_diffed_element_by_element(
    old: list[Any], new: list[Any], by_element: bool
) -> None:
    node = _root("v1", "Node")
    a = {"status": {"conditions": old}, "spec": {"podCIDRs": ["x", "y"]}}
    b = {"status": {"conditions": new}, "spec": {"podCIDRs": ["y", "z", "y"]}}
    assert fp.field_changes(a, b, node, lambda p: True) == _reference(a, b, node, ())
    conditions = node.field("status").field("conditions")
    assert fp._diff_list(old, new, conditions, ("f:c",), lambda p: True, set(), set()) is (
        by_element
    )


def test_an_element_with_nothing_kept_below_changes_as_a_leaf() -> None:
    entry = _ENTRY.field("containers")
    old, new = [{"name": "a", "x": 1}], [{"name": "a", "x": 2}]
    here = ("f:c", 'k:{"name":"a"}')
    changed: set[tuple[str, ...]] = set()
    shallow = fp._diff_list(old, new, entry, ("f:c",), lambda p: len(p) <= 2, changed, set())
    assert shallow and changed == {here}
    changed.clear()
    assert fp._diff_list(old, new, entry, ("f:c",), lambda p: True, changed, set())
    assert changed == {(*here, "f:x")}


def test_elements_of_atomic_structs_are_compared_whole() -> None:
    items = Node("list", elem=Node("struct", fields={"name": Node("scalar")}, atomic=True),
                 list_type="map", keys=("name",))  # fmt: skip
    old, new = [{"name": "a", "x": {"y": 1}}], [{"name": "a", "x": {"y": 2}}]
    changed: set[tuple[str, ...]] = set()
    assert fp._diff_list(old, new, items, ("f:l",), lambda p: True, changed, set())
    here = ("f:l", 'k:{"name":"a"}')
    assert changed == {(*here, "f:x", "f:y")}  # as the full walk of a keyed element has it
    root = Node("struct", fields={"l": items})
    assert fp.field_changes({"l": old}, {"l": new}, root, lambda p: True) == _reference(
        {"l": old}, {"l": new}, root, ()
    )
