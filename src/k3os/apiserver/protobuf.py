"""Decoding of Kubernetes protobuf request bodies, for the kinds typed Go clients send.

client-go (and so kubectl's typed commands: `create namespace|configmap|secret|
serviceaccount|role|rolebinding|clusterrole|clusterrolebinding`, `drain`'s evictions,
delete options) encodes built-in kinds as protobuf
and does not fall back to JSON on 415. A body is `k8s\\0` followed by a `runtime.Unknown`
(type meta, raw message). Messages are decoded generically: the field-number table below
names each field (protobuf field names equal the JSON names), and the kind's OpenAPI
schema says what the field holds. Kinds missing from the table get 415.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
from collections.abc import Iterator
from typing import Any

from k3os.apiserver.errors import BadRequest, UnsupportedMediaType
from k3os.apiserver.schemas import resolve

__all__ = ["MAGIC", "PROTOBUF", "decode_kubernetes_protobuf", "envelope_spec"]

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_CORE = "io.k8s.api.core.v1."
_RBAC = "io.k8s.api.rbac.v1."

# definition -> field number -> field name (from the upstream generated.proto files).
FIELDS: dict[str, dict[int, str]] = {
    _META + "ObjectMeta": {
        1: "name", 2: "generateName", 3: "namespace", 4: "selfLink", 5: "uid",
        6: "resourceVersion", 7: "generation", 8: "creationTimestamp",
        9: "deletionTimestamp", 10: "deletionGracePeriodSeconds", 11: "labels",
        12: "annotations", 13: "ownerReferences", 14: "finalizers", 17: "managedFields",
    },
    _META + "OwnerReference": {
        1: "kind", 3: "name", 4: "uid", 5: "apiVersion", 6: "controller",
        7: "blockOwnerDeletion",
    },
    _META + "ManagedFieldsEntry": {
        1: "manager", 2: "operation", 3: "apiVersion", 4: "time", 6: "fieldsType",
        7: "fieldsV1", 8: "subresource",
    },
    _META + "DeleteOptions": {
        1: "gracePeriodSeconds", 2: "preconditions", 3: "orphanDependents",
        4: "propagationPolicy", 5: "dryRun",
    },
    _META + "Preconditions": {1: "uid", 2: "resourceVersion"},
    "io.k8s.api.policy.v1.Eviction": {1: "metadata", 2: "deleteOptions"},
    _CORE + "Namespace": {1: "metadata", 2: "spec", 3: "status"},
    _CORE + "NamespaceSpec": {1: "finalizers"},
    _CORE + "NamespaceStatus": {1: "phase", 2: "conditions"},
    _CORE + "NamespaceCondition": {
        1: "type", 2: "status", 4: "lastTransitionTime", 5: "reason", 6: "message",
    },
    _CORE + "ConfigMap": {1: "metadata", 2: "data", 3: "binaryData", 4: "immutable"},
    _CORE + "Secret": {1: "metadata", 2: "data", 3: "type", 4: "stringData", 5: "immutable"},
    _CORE + "ServiceAccount": {
        1: "metadata", 2: "secrets", 3: "imagePullSecrets", 4: "automountServiceAccountToken",
    },
    _CORE + "ObjectReference": {
        1: "kind", 2: "namespace", 3: "name", 4: "uid", 5: "apiVersion",
        6: "resourceVersion", 7: "fieldPath",
    },
    _CORE + "LocalObjectReference": {1: "name"},
    _META + "LabelSelector": {1: "matchLabels", 2: "matchExpressions"},
    _META + "LabelSelectorRequirement": {1: "key", 2: "operator", 3: "values"},
    _RBAC + "Role": {1: "metadata", 2: "rules"},
    _RBAC + "ClusterRole": {1: "metadata", 2: "rules", 3: "aggregationRule"},
    _RBAC + "RoleBinding": {1: "metadata", 2: "subjects", 3: "roleRef"},
    _RBAC + "ClusterRoleBinding": {1: "metadata", 2: "subjects", 3: "roleRef"},
    _RBAC + "PolicyRule": {
        1: "verbs", 2: "apiGroups", 3: "resources", 4: "resourceNames", 5: "nonResourceURLs",
    },
    _RBAC + "AggregationRule": {1: "clusterRoleSelectors"},
    _RBAC + "Subject": {1: "kind", 2: "apiGroup", 3: "name", 4: "namespace"},
    _RBAC + "RoleRef": {1: "apiGroup", 2: "kind", 3: "name"},
}  # fmt: skip

# kind -> definition, for the envelope's type meta.
KINDS: dict[str, str] = {
    "Eviction": "io.k8s.api.policy.v1.Eviction",
    "DeleteOptions": _META + "DeleteOptions",
    "Namespace": _CORE + "Namespace",
    "ConfigMap": _CORE + "ConfigMap",
    "Secret": _CORE + "Secret",
    "ServiceAccount": _CORE + "ServiceAccount",
    "Role": _RBAC + "Role",
    "ClusterRole": _RBAC + "ClusterRole",
    "RoleBinding": _RBAC + "RoleBinding",
    "ClusterRoleBinding": _RBAC + "ClusterRoleBinding",
}

_TIMES = {_META + "Time", _META + "MicroTime"}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise BadRequest("protobuf: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise BadRequest("protobuf: varint too long")


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field of a message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
            if pos > len(buf):
                raise BadRequest("protobuf: truncated field")
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise BadRequest(f"protobuf: unsupported wire type {wire}")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(raw: bytes) -> str:
    seconds = nanos = 0
    for number, _, value in _fields(raw):
        if number == 1:
            seconds = _signed(value)
        elif number == 2:
            nanos = value
    when = dt.datetime.fromtimestamp(seconds, dt.UTC)
    if nanos:
        return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Decoder:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs

    def message(self, definition: str, raw: bytes) -> dict[str, Any]:
        names = FIELDS.get(definition)
        if names is None:
            raise UnsupportedMediaType(["application/json", "application/yaml"])
        props = (self.defs.get(definition) or {}).get("properties") or {}
        out: dict[str, Any] = {}
        for number, wire, value in _fields(raw):
            name = names.get(number)
            if name is None or name not in props:
                continue
            schema = props[name]
            kind = resolve(self.defs, schema).get("type")
            if kind == "array":
                items = schema.get("items") or {}
                out.setdefault(name, []).extend(self.repeated(items, wire, value))
            elif kind == "object" and "additionalProperties" in resolve(self.defs, schema):
                key, item = self.map_entry(
                    resolve(self.defs, schema)["additionalProperties"], value
                )
                out.setdefault(name, {})[key] = item
            else:
                out[name] = self.scalar(schema, wire, value)
        # Go structs carry empty strings the JSON form omits (omitempty); keep required ones.
        required = set((self.defs.get(definition) or {}).get("required") or ())
        return {k: v for k, v in out.items() if v != "" or k in required}

    def repeated(self, items: dict[str, Any], wire: int, value: Any) -> list[Any]:
        kind = resolve(self.defs, items).get("type")
        if wire == 2 and kind in ("integer", "boolean"):  # packed
            values, pos = [], 0
            while pos < len(value):
                v, pos = _varint(value, pos)
                values.append(_signed(v) if kind == "integer" else bool(v))
            return values
        return [self.scalar(items, wire, value)]

    def map_entry(self, value_schema: dict[str, Any], raw: bytes) -> tuple[str, Any]:
        key, item = "", None
        for number, wire, value in _fields(raw):
            if number == 1:
                key = bytes(value).decode()
            elif number == 2:
                item = self.scalar(value_schema, wire, value)
        if item is None:
            item = "" if resolve(self.defs, value_schema).get("type") == "string" else {}
        return key, item

    def scalar(self, schema: dict[str, Any], wire: int, value: Any) -> Any:
        ref = schema.get("$ref") or ((schema.get("allOf") or [{}])[0].get("$ref"))
        name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
        if name in _TIMES:
            return _time(value)
        if name == _META + "FieldsV1" or name.endswith("runtime.RawExtension"):
            for number, _, raw in _fields(value):
                if number == 1:
                    return json.loads(bytes(raw))
            return {}
        target = resolve(self.defs, schema)
        if target.get("format") == "int-or-string":
            fields = {n: v for n, _, v in _fields(value)}
            return (
                bytes(fields.get(3, b"")).decode()
                if fields.get(1) == 1
                else _signed(fields.get(2, 0))
            )
        if name and name.endswith("resource.Quantity"):
            return next((bytes(v).decode() for n, _, v in _fields(value) if n == 1), "0")
        if name:
            return self.message(name, value)
        kind = target.get("type")
        if kind == "string":
            if target.get("format") == "byte":
                return base64.b64encode(bytes(value)).decode()
            return bytes(value).decode()
        if kind == "integer":
            return _signed(value)
        if kind == "boolean":
            return bool(value)
        if kind == "number":
            return struct.unpack("<d", value)[0] if wire == 1 else struct.unpack("<f", value)[0]
        return value


def envelope_spec(raw: bytes) -> bytes:
    """The `spec` (field 2) of the object a k8s protobuf envelope (`runtime.Unknown`)
    carries: where TokenRequest's and the reviews' requests keep all that is asked."""
    if not raw.startswith(MAGIC):
        raise BadRequest("protobuf body without the k8s envelope prefix")
    message = spec = b""
    for number, _, value in _fields(raw[len(MAGIC) :]):
        if number == 2:  # runtime.Unknown.raw
            message = bytes(value)
    for number, _, value in _fields(message):
        if number == 2:  # the object's spec; metadata and status are not needed
            spec = bytes(value)
    return spec


def decode_kubernetes_protobuf(raw: bytes, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object (415 for kinds not in the table)."""
    if not raw.startswith(MAGIC):
        raise BadRequest("protobuf body without the k8s envelope prefix")
    api_version = kind = ""
    body = b""
    for number, _, value in _fields(raw[len(MAGIC) :]):
        if number == 1:
            for n, _, v in _fields(value):
                if n == 1:
                    api_version = bytes(v).decode()
                elif n == 2:
                    kind = bytes(v).decode()
        elif number == 2:
            body = bytes(value)
    definition = KINDS.get(kind)
    if definition is None:
        raise UnsupportedMediaType(["application/json", "application/yaml"])
    obj = _Decoder(defs).message(definition, body)
    return {"apiVersion": api_version, "kind": kind, **obj}
