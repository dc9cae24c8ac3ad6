"""Field paths and fieldsV1 tries."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k3os.apiserver import fieldpath as fp
from k3os.apiserver.fieldschema import UNTYPED, Node, builtin_root

pytestmark = pytest.mark.unit


def _pod() -> Node:
    root = builtin_root("v1", "Pod")
    assert root is not None
    return root


def test_field_values_follow_the_schema() -> None:
    pod = {
        "metadata": {"name": "p", "labels": {"a": "1"}, "finalizers": ["f"]},
        "spec": {
            "containers": [
                {"name": "c", "image": "i", "ports": [{"containerPort": 80, "protocol": "TCP"}]}
            ],
            "nodeSelector": {"zone": "a"},
            "tolerations": [{"key": "k"}],
            "securityContext": {},
            "hostname": None,
        },
    }
    paths = set(fp.field_values(pod, _pod()))
    assert paths == {
        ("f:metadata", "f:name"),
        ("f:metadata", "f:labels", "f:a"),
        ("f:metadata", "f:finalizers", 'v:"f"'),
        ("f:spec", "f:containers", 'k:{"name":"c"}'),
        ("f:spec", "f:containers", 'k:{"name":"c"}', "f:name"),
        ("f:spec", "f:containers", 'k:{"name":"c"}', "f:image"),
        (
            "f:spec",
            "f:containers",
            'k:{"name":"c"}',
            "f:ports",
            'k:{"containerPort":80,"protocol":"TCP"}',
        ),
        (
            "f:spec",
            "f:containers",
            'k:{"name":"c"}',
            "f:ports",
            'k:{"containerPort":80,"protocol":"TCP"}',
            "f:containerPort",
        ),
        (
            "f:spec",
            "f:containers",
            'k:{"name":"c"}',
            "f:ports",
            'k:{"containerPort":80,"protocol":"TCP"}',
            "f:protocol",
        ),
        ("f:spec", "f:nodeSelector"),  # an atomic map is one leaf
        ("f:spec", "f:tolerations"),  # an atomic list is one leaf
        ("f:spec", "f:securityContext"),  # an empty struct is a member
        ("f:spec", "f:hostname"),  # so is an explicit null
    }
    assert fp.field_values("not a map", _pod()) == {}


def test_list_elements_without_keys_fall_back_to_positions() -> None:
    containers = _pod().field("spec").field("containers")
    assert fp.item_element({"image": "x"}, containers, 3) == "i:3"
    assert fp.item_element("odd", containers, 0) == "i:0"
    untyped_obj = {"free": {"a": [1, 2], "b": {"c": 1}}}
    assert set(fp.field_values(untyped_obj, UNTYPED)) == {
        ("f:free",),
        ("f:free", "f:a"),
        ("f:free", "f:b"),
        ("f:free", "f:b", "f:c"),
    }


def test_encode_marks_members_with_children() -> None:
    paths = {
        ("f:metadata", "f:labels"),
        ("f:metadata", "f:labels", "f:a"),
        ("f:spec", "f:containers", 'k:{"name":"c"}'),
        ("f:spec", "f:containers", 'k:{"name":"c"}', "f:image"),
        ("f:data", "f:x"),
    }
    trie = fp.encode_fields(paths)
    assert trie == {
        "f:data": {"f:x": {}},
        "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
        "f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}}}},
    }
    assert list(trie) == ["f:data", "f:metadata", "f:spec"]
    assert fp.decode_fields(trie) == paths
    assert fp.encode_fields([]) == {}


_elements = st.sampled_from(["f:a", "f:b", 'k:{"name":"x"}', 'v:"s"', "i:0"])


@given(st.sets(st.lists(_elements, min_size=1, max_size=4).map(tuple), max_size=8))
def test_encode_decode_round_trip(paths: set[tuple[str, ...]]) -> None:
    assert fp.decode_fields(fp.encode_fields(paths)) == paths


@pytest.mark.parametrize(
    ("trie", "fragment"),
    [
        ([], "must be an object, got list"),
        ({"f:a": 1}, "entry 'f:a' must be an object"),
        ({"x:a": {}}, "key 'x:a' is not a path element"),
        ({"k:{bad": {}}, "holds invalid JSON"),
    ],
)
def test_decode_errors(trie: Any, fragment: str) -> None:
    with pytest.raises(fp.FieldsError, match=fragment.replace("{", "\\{")):
        fp.decode_fields(trie)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("f:spec", "f:replicas"), ".spec.replicas"),
        (
            ("f:spec", "f:containers", 'k:{"name":"c"}', "f:image"),
            '.spec.containers[name="c"].image',
        ),
        (
            ("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}'),
            '.ports[containerPort=80,protocol="TCP"]',
        ),
        (("f:metadata", "f:finalizers", 'v:"x"'), '.metadata.finalizers[="x"]'),
        (("f:args", "i:2"), ".args[2]"),
    ],
)
def test_path_string(path: tuple[str, ...], text: str) -> None:
    assert fp.path_string(path) == text


def test_get_and_remove_path() -> None:
    obj: dict[str, Any] = {
        "metadata": {"finalizers": ["a", "b"]},
        "spec": {
            "containers": [{"name": "c", "image": "i"}, {"name": "d"}],
            "args": ["x", "y"],
        },
    }
    c = ("f:spec", "f:containers", 'k:{"name":"c"}')
    assert fp.get_path(obj, (*c, "f:image")) == (True, "i")
    assert fp.get_path(obj, ("f:spec", "f:args", "i:1")) == (True, "y")
    assert fp.get_path(obj, ("f:spec", "f:args", "i:9")) == (False, None)
    assert fp.get_path(obj, ("f:nope",)) == (False, None)
    assert fp.get_path(obj, ("f:spec", 'k:{"name":"c"}')) == (False, None)
    assert fp.remove_path(obj, (*c, "f:image"))
    assert obj["spec"]["containers"][0] == {"name": "c"}
    assert fp.remove_path(obj, c)
    assert obj["spec"]["containers"] == [{"name": "d"}]
    assert fp.remove_path(obj, ("f:metadata", "f:finalizers", 'v:"a"'))
    assert obj["metadata"]["finalizers"] == ["b"]
    assert not fp.remove_path(obj, ("f:metadata", "f:finalizers", 'v:"zz"'))
    assert not fp.remove_path(obj, ("f:gone", "f:deeper"))
    assert not fp.remove_path(obj, ())


def test_defaulted_key_fields() -> None:
    ports = _pod().field("spec").field("containers").item().field("ports")
    assert fp.item_element({"containerPort": 80}, ports, 0) == (
        'k:{"containerPort":80,"protocol":"TCP"}'
    )
    assert fp.item_element({"protocol": "UDP"}, ports, 2) == 'k:{"protocol":"UDP"}'
    assert fp.item_element({"name": "x"}, ports, 2) == "i:2"
    obj = {"ports": [{"containerPort": 80}]}
    assert fp.remove_path(obj, ("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}'))
    assert obj == {"ports": []}
