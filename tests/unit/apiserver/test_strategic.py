"""Strategic merge patch on built-in kinds: merge keys, strategies and directives."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k3os.apiserver.fieldschema import Node, builtin_root
from k3os.apiserver.patch import PatchError, apply_merge_patch
from k3os.apiserver.strategic import apply_strategic_merge_patch

pytestmark = pytest.mark.unit


def _root(api_version: str, kind: str) -> Node:
    root = builtin_root(api_version, kind)
    assert root is not None
    return root


POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "p",
        "labels": {"app": "web"},
        "finalizers": ["a", "b"],
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "X", "name": "o1", "uid": "u1"},
            {"apiVersion": "v1", "kind": "X", "name": "o2", "uid": "u2"},
        ],
    },
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "app:1",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "args": ["--x", "--y"],
            },
            {"name": "side", "image": "side:1"},
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "tolerations": [{"key": "k1", "operator": "Exists"}],
    },
    "status": {
        "conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "Initialized", "status": "True"},
        ]
    },
}


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    """POD with the value at ``path`` replaced (a fresh copy)."""
    obj = copy.deepcopy(POD)
    node: Any = obj
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return obj


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("empty patch", {}, POD),
    (
        "label added and removed",
        {"metadata": {"labels": {"tier": "db", "app": None}}},
        _with(["metadata", "labels"], {"tier": "db"}),
    ),
    (
        "container merged by name",
        {"spec": {"containers": [{"name": "side", "image": "side:2"}]}},
        _with(["spec", "containers", 1], {"name": "side", "image": "side:2"}),
    ),
    (
        "container appended",
        {"spec": {"containers": [{"name": "new", "image": "n:1"}]}},
        _with(
            ["spec", "containers"],
            [*POD["spec"]["containers"], {"name": "new", "image": "n:1"}],
        ),
    ),
    (
        "container deleted by directive",
        {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}},
        _with(["spec", "containers"], POD["spec"]["containers"][:1]),
    ),
    (
        "env merged by name, args replaced",
        {
            "spec": {
                "containers": [
                    {"name": "app", "env": [{"name": "B", "value": "3"}], "args": ["--z"]}
                ]
            }
        },
        _with(
            ["spec", "containers", 0],
            {
                **POD["spec"]["containers"][0],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}],
                "args": ["--z"],
            },
        ),
    ),
    (
        "env var removed by null field",
        {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "value": None}]}]}},
        _with(["spec", "containers", 0, "env"], [{"name": "A"}, {"name": "B", "value": "2"}]),
    ),
    (
        "ports merged by containerPort",
        {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
                    }
                ]
            }
        },
        _with(
            ["spec", "containers", 0, "ports"],
            [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}],
        ),
    ),
    (
        "volumeMounts merged by mountPath",
        {
            "spec": {
                "containers": [
                    {"name": "app", "volumeMounts": [{"mountPath": "/data", "readOnly": True}]}
                ]
            }
        },
        _with(
            ["spec", "containers", 0, "volumeMounts"],
            [{"name": "data", "mountPath": "/data", "readOnly": True}],
        ),
    ),
    (
        "volume source switched with retainKeys",
        {
            "spec": {
                "volumes": [
                    {
                        "name": "data",
                        "hostPath": {"path": "/x"},
                        "$retainKeys": ["name", "hostPath"],
                    }
                ]
            }
        },
        _with(["spec", "volumes"], [{"name": "data", "hostPath": {"path": "/x"}}]),
    ),
    (
        "retainKeys with a null for a dropped field",
        {"spec": {"volumes": [{"name": "data", "emptyDir": None, "$retainKeys": ["name"]}]}},
        _with(["spec", "volumes"], [{"name": "data"}]),
    ),
    (
        "element order of a list of objects without merge key",
        {
            "spec": {
                "$setElementOrder/tolerations": [{"key": "k1", "operator": "Exists"}],
            }
        },
        POD,
    ),
    (
        "tolerations are replaced (atomic)",
        {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}},
        _with(["spec", "tolerations"], [{"key": "k2", "operator": "Exists"}]),
    ),
    (
        "conditions merged by type",
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        _with(
            ["status", "conditions"],
            [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
        ),
    ),
    (
        "finalizers are a union",
        {"metadata": {"finalizers": ["b", "c"]}},
        _with(["metadata", "finalizers"], ["a", "b", "c"]),
    ),
    (
        "finalizer deleted from primitive list",
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
        _with(["metadata", "finalizers"], ["b"]),
    ),
    (
        "finalizers delete and add together",
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["z"]}},
        _with(["metadata", "finalizers"], ["b", "z"]),
    ),
    (
        "ownerReferences merged by uid",
        {"metadata": {"ownerReferences": [{"uid": "u2", "name": "renamed"}]}},
        _with(
            ["metadata", "ownerReferences", 1],
            {"apiVersion": "v1", "kind": "X", "name": "renamed", "uid": "u2"},
        ),
    ),
    (
        "list replaced by directive element",
        {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o"}]}},
        _with(["spec", "containers"], [{"name": "only", "image": "o"}]),
    ),
    (
        "map replaced by directive",
        {"metadata": {"labels": {"$patch": "replace", "x": "y"}}},
        _with(["metadata", "labels"], {"x": "y"}),
    ),
    (
        "map deleted by directive",
        {"metadata": {"labels": {"$patch": "delete"}}},
        {**POD, "metadata": {k: v for k, v in POD["metadata"].items() if k != "labels"}},
    ),
    (
        "explicit merge directive",
        {"metadata": {"labels": {"$patch": "merge", "x": "y"}}},
        _with(["metadata", "labels"], {"app": "web", "x": "y"}),
    ),
    (
        "element order set",
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
                "containers": [{"name": "side", "image": "side:3"}],
            }
        },
        _with(
            ["spec", "containers"],
            [{"name": "side", "image": "side:3"}, POD["spec"]["containers"][0]],
        ),
    ),
    (
        "element order of a primitive list",
        {"metadata": {"$setElementOrder/finalizers": ["b", "a"]}},
        _with(["metadata", "finalizers"], ["b", "a"]),
    ),
    (
        "order of a list the patch does not name elsewhere is a no-op",
        {"spec": {"$setElementOrder/volumes": [{"name": "data"}], "$setElementOrder/nope": []}},
        POD,
    ),
    (
        "new field with nested directives",
        {"spec": {"nodeSelector": {"zone": "a", "gone": None}}},
        _with(["spec", "nodeSelector"], {"zone": "a"}),
    ),
    (
        "new merge list with a delete element",
        {
            "spec": {
                "initContainers": [{"name": "i", "image": "i"}, {"name": "x", "$patch": "delete"}]
            }
        },
        _with(["spec", "initContainers"], [{"name": "i", "image": "i"}]),
    ),
    (
        "new map field deleted by directive",
        {"spec": {"securityContext": {"$patch": "delete"}}},
        POD,
    ),
    (
        "unknown field merges as plain JSON",
        {"spec": {"extra": {"a": {"b": 1}}}},
        _with(["spec", "extra"], {"a": {"b": 1}}),
    ),
    (
        "type change replaces",
        {"metadata": {"labels": ["odd"]}},
        _with(["metadata", "labels"], ["odd"]),
    ),
]


@pytest.mark.parametrize(("patch", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pod_strategic_merge(patch: dict[str, Any], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(POD)
    assert apply_strategic_merge_patch(POD, patch, _root("v1", "Pod")) == expected
    assert before == POD


def test_node_cordon_and_taints() -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1"},
        "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    root = _root("v1", "Node")
    cordoned = apply_strategic_merge_patch(node, {"spec": {"unschedulable": True}}, root)
    assert cordoned["spec"] == {"taints": node["spec"]["taints"], "unschedulable": True}
    # Taints carry no merge key upstream: a patch replaces the whole list.
    tainted = apply_strategic_merge_patch(
        node, {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}}, root
    )
    assert tainted["spec"]["taints"] == [{"key": "b", "effect": "NoExecute"}]
    addressed = apply_strategic_merge_patch(
        node,
        {"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}},
        root,
    )
    assert [a["type"] for a in addressed["status"]["addresses"]] == ["InternalIP", "Hostname"]


def test_pdb_selector_is_replaced() -> None:
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "b"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
    }
    patched = apply_strategic_merge_patch(
        pdb,
        {"spec": {"selector": {"matchLabels": {"tier": "db"}}}},
        _root("policy/v1", "PodDisruptionBudget"),
    )
    assert patched["spec"] == {"minAvailable": 1, "selector": {"matchLabels": {"tier": "db"}}}


def test_rbac_rules_are_replaced_and_configmap_data_merges() -> None:
    role = {"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "resources": ["pods"]}]}
    patched = apply_strategic_merge_patch(
        role,
        {"rules": [{"verbs": ["list"], "resources": ["nodes"]}]},
        _root("rbac.authorization.k8s.io/v1", "Role"),
    )
    assert patched["rules"] == [{"verbs": ["list"], "resources": ["nodes"]}]
    cm = {"data": {"a": "1", "b": "2"}}
    merged = apply_strategic_merge_patch(
        cm, {"data": {"b": None, "c": "3"}}, _root("v1", "ConfigMap")
    )
    assert merged == {"data": {"a": "1", "c": "3"}}


def test_top_level_delete_directive_empties() -> None:
    assert apply_strategic_merge_patch(POD, {"$patch": "delete"}, _root("v1", "Pod")) == {}


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ([1], "must be a JSON object"),
        ({"$patch": "explode"}, "Unknown patch type: explode in map at ."),
        ({"metadata": {"$patch": "explode"}}, "Unknown patch type: explode in map at .metadata"),
        (
            {"spec": {"containers": [{"image": "no-name"}]}},
            ".spec.containers[0]: map does not contain declared merge key: name",
        ),
        (
            {"spec": {"containers": ["app"]}},
            ".spec.containers[0]: expected an object with merge key 'name'",
        ),
        (
            {"spec": {"containers": [{"name": "app", "$patch": "explode"}]}},
            "Unknown patch type: explode in list element at .spec.containers[0]",
        ),
        ({"metadata": {"finalizers": [{"a": 1}]}}, "list of objects has no patch merge key"),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "must be a list"),
        ({"metadata": {"$setElementOrder/finalizers": "a"}}, "must be a list"),
        (
            {"spec": {"volumes": [{"name": "data", "$retainKeys": "name"}]}},
            "$retainKeys at .spec.volumes[0] must be a list of field names",
        ),
        (
            {"spec": {"volumes": [{"name": "data", "nfs": {}, "$retainKeys": ["name"]}]}},
            "field 'nfs' at .spec.volumes[0] is not present in the $retainKeys list",
        ),
    ],
)
def test_strategic_merge_errors(patch: Any, fragment: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_strategic_merge_patch(POD, patch, _root("v1", "Pod"))
    assert fragment in str(info.value)
    assert info.value.code == 400


_text = st.text(alphabet="abc", max_size=2)
_string_maps = st.dictionaries(_text, st.one_of(st.none(), _text), max_size=4)


@given(
    data=_string_maps,
    labels=_string_maps,
    patch_data=_string_maps,
    patch_labels=_string_maps,
)
def test_maps_of_scalars_merge_like_a_merge_patch(
    data: dict[str, Any],
    labels: dict[str, Any],
    patch_data: dict[str, Any],
    patch_labels: dict[str, Any],
) -> None:
    clean = {k: v for k, v in data.items() if v is not None}
    obj = {
        "metadata": {"name": "c", "labels": {k: v for k, v in labels.items() if v}},
        "data": clean,
    }
    patch = {"metadata": {"labels": patch_labels}, "data": patch_data}
    assert apply_strategic_merge_patch(obj, patch, _root("v1", "ConfigMap")) == (
        apply_merge_patch(obj, patch)
    )


@given(
    names=st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4),
    patch_names=st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True, max_size=4),
)
def test_containers_merge_by_name_properties(names: list[str], patch_names: list[str]) -> None:
    pod = {"spec": {"containers": [{"name": n, "image": "old"} for n in names]}}
    patch = {"spec": {"containers": [{"name": n, "image": "new"} for n in patch_names]}}
    result = apply_strategic_merge_patch(pod, patch, _root("v1", "Pod"))
    containers = result["spec"]["containers"]
    # every name once, the live ones first in their order, then the new ones
    assert [c["name"] for c in containers] == names + [n for n in patch_names if n not in names]
    for c in containers:
        assert c["image"] == ("new" if c["name"] in patch_names else "old")


_NODE = _root("v1", "Node")
_label_maps = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.one_of(st.none(), _text))
_conditions = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["Ready", "DiskPressure", "X"]), "status": _text},
        optional={"$patch": st.sampled_from(["delete", "replace", "merge"])},
    ),
    max_size=3,
)


@given(
    labels=_label_maps,
    conditions=_conditions,
    patch_labels=_label_maps,
    patch_conditions=_conditions,
    order=st.one_of(st.none(), st.lists(st.sampled_from(["Ready", "DiskPressure", "X"]))),
)
def test_shared_strategic_patch_equals_the_copying_one_and_leaves_the_target(
    labels: dict[str, Any],
    conditions: list[dict[str, Any]],
    patch_labels: dict[str, Any],
    patch_conditions: list[dict[str, Any]],
    order: list[str] | None,
) -> None:
    node = {
        "metadata": {"name": "n", "labels": {k: v for k, v in labels.items() if v}},
        "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
        "status": {
            "conditions": [{k: v for k, v in c.items() if k != "$patch"} for c in conditions]
        },
    }
    status: dict[str, Any] = {"conditions": patch_conditions}
    if order is not None:
        status["$setElementOrder/conditions"] = [{"type": t} for t in order]
    patch = {"metadata": {"labels": patch_labels}, "status": status}
    before = copy.deepcopy(node)
    try:
        shared: Any = apply_strategic_merge_patch(node, patch, _NODE, share=True)
    except PatchError as e:
        shared = str(e)
    assert node == before
    try:
        copied: Any = apply_strategic_merge_patch(before, patch, _NODE)
    except PatchError as e:
        copied = str(e)
    assert shared == copied
    if isinstance(shared, dict):
        assert shared["spec"] is node["spec"]  # left alone: the target's own
