"""OpenAPI documents: v2 (`/openapi/v2`) and v3 (`/openapi/v3` index + one per group).

Schemas come from the upstream definitions (schemas.py); paths are generated from the
registry. kubectl reads the PATCH operation of a kind to learn that the server validates
fields (`fieldValidation`), and the kind's schema (with its patch merge keys) for
`explain` and client-side apply.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from k3os.apiserver.customresources import openapi_definitions
from k3os.apiserver.openapi_pb import encode_document
from k3os.apiserver.registry import Registry, ResourceType
from k3os.apiserver.schemas import KUBERNETES_SCHEMA_VERSION, closure, to_v2, to_v3

__all__ = ["Documents", "gv_path"]

Obj = dict[str, Any]
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
# Custom resources take no strategic merge patch (415), and kubectl reads this list to
# decide: without it, `kubectl apply` falls back to a JSON merge patch as upstream.
_CUSTOM_PATCH_TYPES = tuple(t for t in _PATCH_TYPES if "strategic" not in t)


def gv_path(group: str, version: str) -> str:
    """`api/v1` or `apis/<group>/<version>`: the v3 index key."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _param(name: str, where: str = "query", kind: str = "string", *, v3: bool) -> Obj:
    if v3:
        p: Obj = {"name": name, "in": where, "schema": {"type": kind}}
    else:
        p = {"name": name, "in": where, "type": kind}
    if where == "path":
        p["required"] = True
    return p


def _ref(name: str, *, v3: bool) -> Obj:
    return {"$ref": ("#/components/schemas/" if v3 else "#/definitions/") + name}


def _list_definition(rt: ResourceType) -> str:
    return rt.definition + "List"


class _PathBuilder:
    def __init__(self, v3: bool) -> None:
        self.v3 = v3

    def op(
        self, rt: ResourceType, action: str, verb_id: str, kind: str, response: str, **extra: Any
    ) -> Obj:
        group, version = rt.group, rt.version
        params = [_param(p, v3=self.v3) for p in extra.pop("params", ())]
        gvk = {"group": group, "version": version, "kind": kind}
        op: Obj = {
            "operationId": verb_id,
            "parameters": params,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "tags": [gv_path(group, version).replace("/", "_")],
        }
        if self.v3:
            op["responses"] = {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": _ref(response, v3=True)}},
                }
            }
        else:
            op["responses"] = {"200": {"description": "OK", "schema": _ref(response, v3=False)}}
            op["produces"] = ["application/json", "application/yaml"]
        body = extra.pop("body", None)
        if body is not None:
            types = extra.pop("content_types", ("application/json",))
            if self.v3:
                op["requestBody"] = {
                    "content": {t: {"schema": _ref(body, v3=True)} for t in types},
                    "required": True,
                }
            else:
                op["parameters"].append(
                    {"name": "body", "in": "body", "required": True, "schema": _ref(body, v3=False)}
                )
                op["consumes"] = list(types)
        return op

    def paths(self, rt: ResourceType) -> Obj:
        base = f"/{gv_path(rt.group, rt.version)}"
        if rt.namespaced:
            collection = f"{base}/namespaces/{{namespace}}/{rt.plural}"
        else:
            collection = f"{base}/{rt.plural}"
        item = collection + "/{name}"
        path_params = [_param("namespace", "path", v3=self.v3)] if rt.namespaced else []
        name_param = _param("name", "path", v3=self.v3)
        write = ("dryRun", "fieldManager", "fieldValidation")
        k = rt.kind
        patch_types = _PATCH_TYPES if rt.custom is None else _CUSTOM_PATCH_TYPES
        out: Obj = {
            collection: {
                "parameters": path_params,
                "get": self.op(rt, "list", f"list{k}", k, _list_definition(rt),
                               params=("labelSelector", "fieldSelector", "limit", "continue",
                                       "resourceVersion", "resourceVersionMatch", "watch",
                                       "allowWatchBookmarks", "timeoutSeconds")),
                "post": self.op(rt, "post", f"create{k}", k, rt.definition, params=write,
                                body=rt.definition),
                "delete": self.op(rt, "deletecollection", f"deletecollection{k}", k,
                                  _META + "Status", params=("labelSelector", "fieldSelector")),
            },
            item: {
                "parameters": [*path_params, name_param],
                "get": self.op(rt, "get", f"read{k}", k, rt.definition),
                "put": self.op(rt, "put", f"replace{k}", k, rt.definition, params=write,
                               body=rt.definition),
                "patch": self.op(rt, "patch", f"patch{k}", k, rt.definition,
                                 params=(*write, "force"), body=_META + "Patch",
                                 content_types=patch_types),
                "delete": self.op(rt, "delete", f"delete{k}", k, _META + "Status",
                                  params=("dryRun", "gracePeriodSeconds", "propagationPolicy"),
                                  body=_META + "DeleteOptions"),
            },
        }  # fmt: skip
        for sub in rt.subresources:
            if sub.name == "eviction":
                ev = "io.k8s.api.policy.v1.Eviction"
                out[f"{item}/eviction"] = {
                    "parameters": [*path_params, name_param],
                    "post": self.op(rt, "post", f"create{k}Eviction", "Eviction", ev,
                                    params=write, body=ev),
                }  # fmt: skip
            elif sub.name == "scale":
                sc = "io.k8s.api.autoscaling.v1.Scale"
                out[f"{item}/scale"] = {
                    "parameters": [*path_params, name_param],
                    "get": self.op(rt, "get", f"read{k}Scale", "Scale", sc),
                    "put": self.op(rt, "put", f"replace{k}Scale", "Scale", sc, params=write,
                                   body=sc),
                    "patch": self.op(rt, "patch", f"patch{k}Scale", "Scale", sc,
                                     params=(*write, "force"), body=_META + "Patch",
                                     content_types=patch_types),
                }  # fmt: skip
            elif sub.name == "status":
                out[f"{item}/status"] = {
                    "parameters": [*path_params, name_param],
                    "get": self.op(rt, "get", f"read{k}Status", k, rt.definition),
                    "put": self.op(rt, "put", f"replace{k}Status", k, rt.definition,
                                   params=write, body=rt.definition),
                    "patch": self.op(rt, "patch", f"patch{k}Status", k, rt.definition,
                                     params=(*write, "force"), body=_META + "Patch",
                                     content_types=patch_types),
                }  # fmt: skip
        return out


def _roots(types: list[ResourceType]) -> tuple[str, ...]:
    builtin = [rt for rt in types if rt.custom is None]
    names = {rt.definition for rt in builtin} | {_list_definition(rt) for rt in builtin}
    if any(rt.subresource("eviction") for rt in types):
        names.add("io.k8s.api.policy.v1.Eviction")
    for rt in types:
        if rt.custom is not None:
            names.update(openapi_definitions(rt, v3=False)[1])
    return tuple(sorted(names))


def _definitions(types: list[ResourceType], *, v3: bool) -> Obj:
    """Upstream definitions the types use, plus the CRD schemas of custom kinds."""
    roots = closure(_roots(types))
    out: Obj = to_v3(roots) if v3 else to_v2(roots)
    for rt in types:
        if rt.custom is not None:
            out.update(openapi_definitions(rt, v3=v3)[0])
    return out


def _digest(doc: Obj) -> tuple[bytes, str]:
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return raw, hashlib.sha512(raw).hexdigest()[:32].upper()


def _document(types: list[ResourceType], *, v3: bool) -> tuple[bytes, str]:
    """The v2 (swagger) or v3 document of `types`, as bytes and their ETag."""
    builder = _PathBuilder(v3=v3)
    paths: Obj = {}
    for rt in types:
        paths.update(builder.paths(rt))
    doc: Obj = {
        "info": {"title": "Kubernetes", "version": KUBERNETES_SCHEMA_VERSION},
        "paths": paths,
    }
    definitions = _definitions(types, v3=v3)
    if v3:
        doc.update(openapi="3.0.0", components={"schemas": definitions})
    else:
        doc.update(swagger="2.0", definitions=definitions)
    return _digest(doc)  # keys are sorted: the order here does not show


class Documents:
    """The OpenAPI documents of one registry state, rendered once, served as bytes."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._v2: tuple[bytes, str] | None = None
        self._v2_protobuf: tuple[bytes, str] | None = None
        self._v3: dict[str, tuple[bytes, str]] | None = None
        self._revision = registry.revision

    def _refresh(self) -> None:
        """Drop the rendered documents when the registry changed (a CRD came or went)."""
        if self._revision != self.registry.revision:
            self._revision = self.registry.revision
            self._v2 = None
            self._v2_protobuf = None
            self._v3 = None

    def v2(self) -> tuple[bytes, str]:
        self._refresh()
        if self._v2 is None:
            self._v2 = _document(list(self.registry), v3=False)
        return self._v2

    def v2_protobuf(self) -> tuple[bytes, str]:
        """The v2 document as gnostic protobuf (what client-go asks for), and its ETag."""
        raw, etag = self.v2()
        if self._v2_protobuf is None:
            self._v2_protobuf = (encode_document(json.loads(raw)), etag + "-PB")
        return self._v2_protobuf

    def v3_documents(self) -> dict[str, tuple[bytes, str]]:
        self._refresh()
        if self._v3 is None:
            docs: dict[str, tuple[bytes, str]] = {}
            for group, versions in self.registry.group_versions().items():
                for version in versions:
                    types = self.registry.in_group_version(group, version)
                    docs[gv_path(group, version)] = _document(types, v3=True)
            self._v3 = docs
        return self._v3

    def v3_index(self) -> Obj:
        return {
            "paths": {
                key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
                for key, (_, digest) in sorted(self.v3_documents().items())
            }
        }

    def v3(self, key: str) -> tuple[bytes, str] | None:
        return self.v3_documents().get(key)
