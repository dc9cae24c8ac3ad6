"""Upstream JSON schemas of the built-in kinds, from the pinned `kubernetes-validate` data.

The package ships kube-openapi's definitions as JSON Schema (`$defs`, nullable type lists);
we carry one release's file of it, gzipped, in `data/` (scripts/gen-k8s-definitions.py
writes it). This module loads the definitions reachable from the kinds we serve, once, and renders
them in the two dialects the API publishes: OpenAPI v2 (`#/definitions/...`) and OpenAPI
v3 (`#/components/schemas/...`). Validation reads the normalized form (`normalized()`).
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

__all__ = [
    "DEFINITIONS_FILE",
    "KUBERNETES_SCHEMA_VERSION",
    "closure",
    "normalized",
    "resolve",
    "to_v2",
    "to_v3",
]

KUBERNETES_SCHEMA_VERSION = "v1.36.0"
DEFINITIONS_FILE = f"definitions-{KUBERNETES_SCHEMA_VERSION}.json.gz"
_REF = "#/$defs/"

# Always published and always reachable: the shapes every API group answers with.
_COMMON = (
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions",
    "io.k8s.api.policy.v1.Eviction",
)


@functools.cache
def _all_definitions() -> dict[str, Any]:
    path = resources.files("k3os.apiserver").joinpath("data", DEFINITIONS_FILE)
    data: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))["$defs"]
    return data


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            yield ref[len(_REF) :]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


@functools.cache
def closure(roots: tuple[str, ...]) -> dict[str, Any]:
    """The definitions `roots` (and the common shapes) need, by name, in the source form."""
    everything = _all_definitions()
    out: dict[str, Any] = {}
    todo = list(roots) + list(_COMMON)
    while todo:
        name = todo.pop()
        if name in out or name not in everything:
            continue
        out[name] = everything[name]
        todo.extend(_refs(out[name]))
    _all_definitions.cache_clear()  # keep only what is served
    return out


def _single_type(types: Any) -> Any:
    if isinstance(types, list):
        real = [t for t in types if t != "null"]
        return real[0] if len(real) == 1 else real
    return types


def _convert(node: Any, prefix: str, *, v3: bool) -> Any:
    """Source form -> OpenAPI: single `type`, refs under `prefix`, int-or-string as kube
    publishes it, and `$ref` with siblings wrapped in `allOf` for v3."""
    if isinstance(node, list):
        return [_convert(v, prefix, v3=v3) for v in node]
    if not isinstance(node, dict):
        return node
    one_of = node.get("oneOf")
    if isinstance(one_of, list) and len(one_of) == 2 and "type" not in node:
        kinds = {_single_type(alt.get("type")) for alt in one_of if isinstance(alt, dict)}
        if kinds == {"string", "integer"}:
            rest = {k: v for k, v in node.items() if k != "oneOf"}
            return rest | {"type": "string", "format": "int-or-string"}
        if kinds == {"string", "number"}:
            return {k: v for k, v in node.items() if k != "oneOf"} | {"type": "string"}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type":
            out[key] = _single_type(value)
        elif key == "$ref" and isinstance(value, str) and value.startswith(_REF):
            out[key] = prefix + value[len(_REF) :]
        elif key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {k: _convert(v, prefix, v3=v3) for k, v in value.items()}
        elif key == "enum" or key == "x-kubernetes-group-version-kind":
            out[key] = value
        else:
            out[key] = _convert(value, prefix, v3=v3)
    if v3 and "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}]
    return out


def _strip_kind_enums(defn: dict[str, Any]) -> dict[str, Any]:
    """The schema package pins `apiVersion`/`kind` with enums; kube's documents do not."""
    props = defn.get("properties")
    if not isinstance(props, dict):
        return defn
    fixed = dict(props)
    for key in ("apiVersion", "kind"):
        if isinstance(fixed.get(key), dict) and "enum" in fixed[key]:
            fixed[key] = {k: v for k, v in fixed[key].items() if k != "enum"}
    return defn | {"properties": fixed}


def to_v2(defs: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _convert(_strip_kind_enums(d), "#/definitions/", v3=False) for name, d in defs.items()
    }


def to_v3(defs: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _convert(_strip_kind_enums(d), "#/components/schemas/", v3=True)
        for name, d in defs.items()
    }


@functools.cache
def normalized(roots: tuple[str, ...]) -> dict[str, Any]:
    """The closure with single types and local refs (`#/definitions/`): what validation and
    patch metadata lookups walk."""
    return to_v2(closure(roots))


def resolve(defs: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref` (and a single-element `allOf`) to the schema it names."""
    seen = 0
    while seen < 32:
        ref = schema.get("$ref")
        if ref is None and isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            ref = schema["allOf"][0].get("$ref")
        if not isinstance(ref, str):
            return schema
        target = defs.get(ref.rsplit("/", 1)[-1])
        if target is None:
            return {}
        schema = target
        seen += 1
    return schema
