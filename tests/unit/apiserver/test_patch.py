"""JSON Patch, JSON merge patch and the Content-Type dispatch."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from k3os.apiserver import patch as p
from k3os.apiserver.errors import APIError, RequestEntityTooLarge, UnsupportedMediaType

pytestmark = pytest.mark.unit

CM = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "c", "resourceVersion": "5", "labels": {"a": "1"}},
    "data": {"k": "v", "list": "x"},
}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([], CM),
        (
            [{"op": "add", "path": "/metadata/labels/b", "value": "2"}],
            {**CM, "metadata": {**CM["metadata"], "labels": {"a": "1", "b": "2"}}},
        ),
        (
            [
                {"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
                {"op": "replace", "path": "/data/k", "value": "w"},
            ],
            {**CM, "data": {"k": "w", "list": "x"}},
        ),
        ([{"op": "remove", "path": "/data"}], {k: v for k, v in CM.items() if k != "data"}),
        (
            [{"op": "move", "from": "/data/k", "path": "/data/k2"}],
            {**CM, "data": {"k2": "v", "list": "x"}},
        ),
        (
            [{"op": "copy", "from": "/data/k", "path": "/data/k3"}],
            {**CM, "data": {"k": "v", "list": "x", "k3": "v"}},
        ),
        (
            [
                {"op": "add", "path": "/metadata/finalizers", "value": ["a"]},
                {"op": "add", "path": "/metadata/finalizers/-", "value": "b"},
            ],
            {**CM, "metadata": {**CM["metadata"], "finalizers": ["a", "b"]}},
        ),
    ],
)
def test_json_patch(ops: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    before = json.dumps(CM, sort_keys=True)
    assert p.apply_json_patch(CM, ops) == expected
    assert json.dumps(CM, sort_keys=True) == before  # the input is not changed


@pytest.mark.parametrize(
    ("ops", "error", "fragment"),
    [
        ({"op": "add"}, p.PatchError, "must be a list of operations"),
        (["add"], p.PatchError, "operation 0 is not an object"),
        ([{"op": "frobnicate", "path": "/a"}], p.PatchError, "invalid json patch"),
        ([{"path": "/a"}], p.PatchError, "invalid json patch"),
        (
            [{"op": "test", "path": "/metadata/resourceVersion", "value": "4"}],
            p.PatchApplyError,
            "",
        ),
        ([{"op": "remove", "path": "/nope"}], p.PatchApplyError, ""),
        ([{"op": "replace", "path": "/data/missing/deeper", "value": 1}], p.PatchApplyError, ""),
        ([{"op": "replace", "path": "", "value": [1]}], p.PatchApplyError, "must be an object"),
    ],
)
def test_json_patch_errors(ops: Any, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        p.apply_json_patch(CM, ops)
    assert fragment in str(info.value)


def test_json_patch_error_codes() -> None:
    with pytest.raises(p.PatchApplyError) as info:
        p.apply_json_patch(CM, [{"op": "test", "path": "/data/k", "value": "no"}])
    status = info.value.to_status()
    assert (status["code"], status["reason"]) == (422, "Invalid")
    with pytest.raises(p.PatchError) as bad:
        p.apply_json_patch(CM, "x")
    assert bad.value.to_status()["code"] == 400


def test_json_patch_operation_limit() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "ConfigMap"}] * (
        p.MAX_JSON_PATCH_OPERATIONS + 1
    )
    with pytest.raises(RequestEntityTooLarge, match="maximum operations in a JSON patch is 10000"):
        p.apply_json_patch(CM, ops)


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({}, CM),
        ({"data": {"k": None}}, {**CM, "data": {"list": "x"}}),
        ({"data": None}, {k: v for k, v in CM.items() if k != "data"}),
        (
            {"metadata": {"labels": {"b": "2", "a": None}}},
            {**CM, "metadata": {**CM["metadata"], "labels": {"b": "2"}}},
        ),
        ({"data": ["x"]}, {**CM, "data": ["x"]}),
        ({"new": {"deep": {"x": None, "y": 1}}}, {**CM, "new": {"deep": {"y": 1}}}),
        ({"kind": "Other"}, {**CM, "kind": "Other"}),
    ],
)
def test_merge_patch(patch: dict[str, Any], expected: dict[str, Any]) -> None:
    assert p.apply_merge_patch(CM, patch) == expected


def test_merge_patch_must_be_object() -> None:
    with pytest.raises(p.PatchError, match="must be a JSON object"):
        p.apply_merge_patch(CM, [1])


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3))
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=10,
)
_objects = st.dictionaries(st.text(max_size=2), _json, max_size=4)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


@given(target=_objects, patch=_objects)
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: dict[str, Any]) -> None:
    once = p.apply_merge_patch(target, patch)
    assert p.apply_merge_patch(once, patch) == once


@given(target=_objects, patch=_objects)
def test_merge_patch_sets_what_it_names(target: dict[str, Any], patch: dict[str, Any]) -> None:
    result = p.apply_merge_patch(target, patch)
    for key, value in patch.items():
        if value is None:
            assert key not in result
        elif not isinstance(value, dict):
            assert result[key] == value
    for key in target:
        if key not in patch:
            assert result[key] == target[key]


@given(target=_objects)
def test_merge_patch_with_itself_is_identity_without_nulls(target: dict[str, Any]) -> None:
    clean = _without_nulls(target)
    assert p.apply_merge_patch(clean, clean) == clean


def test_patch_object_dispatch() -> None:
    body = json.dumps([{"op": "replace", "path": "/data/k", "value": "j"}])
    assert p.patch_object(p.JSON_PATCH, CM, body)["data"]["k"] == "j"
    merged = p.patch_object(f"{p.MERGE_PATCH}; charset=utf-8", CM, b'{"data":{"k":"m"}}')
    assert merged["data"]["k"] == "m"
    smp = p.patch_object(
        p.STRATEGIC_MERGE_PATCH, CM, '{"data":{"k":"s"}}', api_version="v1", kind="ConfigMap"
    )
    assert smp["data"]["k"] == "s"


def test_patch_object_refusals() -> None:
    with pytest.raises(UnsupportedMediaType) as crd:
        p.patch_object(p.STRATEGIC_MERGE_PATCH, CM, "{}", api_version="example.com/v1", kind="W")
    assert crd.value.code == 415
    assert p.STRATEGIC_MERGE_PATCH not in crd.value.message
    assert p.MERGE_PATCH in crd.value.message
    with pytest.raises(UnsupportedMediaType):
        p.patch_object("application/json", CM, "{}")
    with pytest.raises(p.PatchError, match="error decoding patch"):
        p.patch_object(p.MERGE_PATCH, CM, b"{not json")
    with pytest.raises(p.PatchError):
        p.patch_object(p.MERGE_PATCH, CM, b"\xff\xfe")


# -- share=True: the result is new only along the patch's paths -----------------------------


def _containers(value: Any) -> list[Any]:
    """Every map and list in `value`, `value` included."""
    out: list[Any] = []
    if isinstance(value, dict | list):
        out.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            out.extend(_containers(child))
    return out


@given(target=_objects, patch=_objects)
def test_shared_merge_patch_equals_the_copying_one_and_leaves_the_target(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    before = copy.deepcopy(target)
    shared = p.apply_merge_patch(target, patch, share=True)
    assert shared == p.apply_merge_patch(before, patch)
    assert target == before
    for key in target:  # what the patch does not name is the target's own object
        if key not in patch:
            assert shared[key] is target[key]
    # scribbling over every map the patch wrote leaves the target alone
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(shared.get(key), dict):
            shared[key]["scribbled"] = 1
    assert target == before


def _pointers(value: Any, prefix: str = "") -> list[str]:
    """Every JSON pointer into `value` (the root excluded)."""
    out: list[str] = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        here = f"{prefix}/{str(key).replace('~', '~0').replace('/', '~1')}"
        out.append(here)
        out.extend(_pointers(child, here))
    return out


@st.composite
def _doc_and_ops(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    doc = draw(_objects)
    existing = _pointers(doc)
    beyond = [f"{ptr}/{k}" for ptr in existing for k in ("0", "-", "n")] + ["/n", "/0"]
    # what lies below a value once a move or copy has put it somewhere else
    beyond += sorted(
        {
            to + below[len(src) :]
            for src in existing
            for below in existing
            if below.startswith(src + "/")
            for to in [*existing, "/n"]
        }
    )[:200]
    pointer = st.sampled_from(existing + beyond) if existing else st.sampled_from(beyond)
    op = st.sampled_from(["add", "replace", "remove", "move", "copy", "test"])
    ops = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(op)
        item: dict[str, Any] = {"op": kind, "path": draw(pointer)}
        if kind in ("move", "copy"):
            item["from"] = draw(pointer)
        if kind in ("add", "replace", "test"):
            item["value"] = draw(_json)
        ops.append(item)
    return doc, ops


def _outcome(doc: dict[str, Any], ops: list[dict[str, Any]], share: bool) -> Any:
    try:
        return p.apply_json_patch(doc, copy.deepcopy(ops), share=share)
    except APIError as e:
        return type(e), str(e)


@given(case=_doc_and_ops())
@example(  # the moved value is changed below where it now is
    case=(
        {"a": {"x": {"y": 1}}},
        [{"op": "move", "from": "/a", "path": "/b"}, {"op": "remove", "path": "/b/x/y"}],
    )
)
@example(  # a removal shifts the list under a later operation's path
    case=(
        {"l": [{"k": 1}, {"k": 2}]},
        [{"op": "remove", "path": "/l/0"}, {"op": "add", "path": "/l/0/j", "value": 3}],
    )
)
def test_shared_json_patch_equals_the_copying_one_and_leaves_the_target(
    case: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """Moves, removals that shift a list, and operations on what an operation before
    put in place: none of them reaches into the target, and the outcome (the object, or
    the error) is the copying path's."""
    doc, ops = case
    before = copy.deepcopy(doc)
    shared = _outcome(doc, ops, share=True)
    assert doc == before
    assert shared == _outcome(before, ops, share=False)


def _untouched_shared(before: dict[str, Any], ops: list[dict[str, Any]]) -> bool:
    return False
