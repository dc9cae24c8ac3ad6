"""Schema nodes for patching: the generated built-in table and CRD schemas."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from k3os.apiserver import _builtin_schema
from k3os.apiserver.fieldschema import UNTYPED, builtin_kinds, builtin_root, node_from_openapi

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "gen-patch-schema.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_patch_schema", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_patch_schema"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_table_matches_upstream_schemas() -> None:
    gen = _generator()
    defs = gen.load_definitions()
    builder = gen.Builder(defs)
    for av, kind in gen.KINDS:
        builder.define(next(n for n, d in defs.items() if gen._has_gvk(d, av, kind)))
    assert gen.kind_index(defs) == _builtin_schema.KINDS
    assert builder.out == _builtin_schema.DEFINITIONS


@pytest.mark.parametrize(
    ("path", "list_type", "keys", "merge_key", "strategies"),
    [
        (["spec", "containers"], "map", ("name",), "name", {"merge"}),
        (["spec", "volumes"], "map", ("name",), "name", {"merge", "retainKeys"}),
        (["spec", "tolerations"], "atomic", (), "", set()),
        (["metadata", "finalizers"], "set", (), "", {"merge"}),
        (["metadata", "ownerReferences"], "map", ("uid",), "uid", {"merge"}),
        (["status", "conditions"], "map", ("type",), "type", {"merge"}),
    ],
)
def test_pod_list_metadata(
    path: list[str], list_type: str, keys: tuple[str, ...], merge_key: str, strategies: set[str]
) -> None:
    node = builtin_root("v1", "Pod")
    assert node is not None
    for name in path:
        node = node.field(name)
    assert node.kind == "list"
    assert (node.list_type, node.keys, node.merge_key, set(node.strategies)) == (
        list_type,
        keys,
        merge_key,
        strategies,
    )


def test_container_ports_have_two_keys_and_one_merge_key() -> None:
    pod = builtin_root("v1", "Pod")
    assert pod is not None
    ports = pod.field("spec").field("containers").item().field("ports")
    assert ports.keys == ("containerPort", "protocol")
    assert ports.merge_key == "containerPort"


def test_atomic_maps_and_untyped() -> None:
    pod = builtin_root("v1", "Pod")
    assert pod is not None
    assert pod.field("spec").field("nodeSelector").atomic
    assert pod.field("spec").field("nodeSelector").kind == "map"
    assert not pod.field("metadata").field("labels").atomic
    pdb = builtin_root("policy/v1", "PodDisruptionBudget")
    assert pdb is not None
    selector = pdb.field("spec").field("selector")
    assert selector.kind == "struct" and selector.atomic and "replace" in selector.strategies
    assert pod.field("nope") is UNTYPED
    assert pod.field("metadata").field("labels").field("x").kind == "scalar"
    assert UNTYPED.field("x") is UNTYPED
    assert UNTYPED.item() is UNTYPED
    assert UNTYPED.fields == {}
    crd = builtin_root("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert crd is not None
    versions = crd.field("spec").field("versions")
    schema = versions.item().field("schema").field("openAPIV3Schema")
    assert schema.field("default").kind == "any"
    assert "list_type=map" in repr(pod.field("spec").field("containers"))


def test_builtin_kinds_listed() -> None:
    kinds = builtin_kinds()
    assert ("v1", "Pod") in kinds
    assert ("coordination.k8s.io/v1", "Lease") in kinds
    assert ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") in kinds
    assert builtin_root("example.com/v1", "Widget") is None


def test_node_from_openapi() -> None:
    node = node_from_openapi(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "ports": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["port"],
                            "items": {
                                "type": "object",
                                "properties": {"port": {"type": "integer"}},
                            },
                        },
                        "tags": {
                            "type": "array",
                            "x-kubernetes-list-type": "set",
                            "items": {"type": "string"},
                        },
                        "args": {"type": "array", "items": {"type": "string"}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "ref": {
                            "type": "object",
                            "x-kubernetes-map-type": "atomic",
                            "properties": {"name": {"type": "string"}},
                        },
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        "size": {"x-kubernetes-int-or-string": True},
                        "anything": {},
                        "count": {"type": "integer"},
                    },
                }
            },
        }
    )
    spec = node.field("spec")
    assert spec.field("ports").list_type == "map"
    assert spec.field("ports").keys == ("port",)
    assert spec.field("ports").item().field("port").kind == "scalar"
    assert spec.field("tags").list_type == "set"
    assert spec.field("args").list_type == "atomic"
    assert spec.field("labels").kind == "map"
    assert spec.field("ref").atomic
    assert spec.field("free").kind == "any"
    assert spec.field("size").kind == "scalar"
    assert spec.field("anything") is UNTYPED
    assert spec.field("count").kind == "scalar"
    assert node_from_openapi(None) is UNTYPED


def test_custom_resource_root() -> None:
    from k3os.apiserver.fieldschema import custom_resource_root

    root = custom_resource_root(
        {
            "type": "object",
            "properties": {
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "properties": {
                        "nodes": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                        }
                    },
                },
            },
        }
    )
    assert root.field("metadata").field("ownerReferences").keys == ("uid",)
    assert root.field("spec").field("nodes").list_type == "map"
    assert root.field("kind").kind == "scalar"
    bare = custom_resource_root(None)
    assert set(bare.fields) == {"apiVersion", "kind", "metadata"}
    assert node_from_openapi({"description": "no type"}) is UNTYPED
