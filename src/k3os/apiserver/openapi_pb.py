"""The OpenAPI v2 document in its protobuf form, which client-go asks `/openapi/v2` for.

client-go's `OpenAPISchema()` (kubectl's v2 fallback and `explain
--output=plaintext-openapiv2`, Helm's validation) accepts only
`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`: gnostic's `openapi.v2`
messages. This module encodes our JSON document into them, writing only what that JSON
uses (paths with their operations, parameters and responses; schema definitions).
Vendor extensions, defaults, enums and examples travel as `Any.yaml` (JSON text is YAML).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from typing import Any

__all__ = ["OPENAPI_V2_PROTOBUF", "encode_document"]

OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _str(number: int, value: Any) -> bytes:
    return _bytes(number, str(value).encode()) if value not in (None, "") else b""


def _bool(number: int, value: Any) -> bytes:
    return _varint(number << 3) + b"\x01" if value else b""


def _double(number: int, value: Any) -> bytes:
    if value is None:
        return b""
    return _varint(number << 3 | 1) + struct.pack("<d", float(value))


def _int(number: int, value: Any) -> bytes:
    return _varint(number << 3) + _varint(int(value)) if value else b""


def _strs(number: int, values: Iterable[Any]) -> bytes:
    return b"".join(_bytes(number, str(v).encode()) for v in values)


def _any(value: Any) -> bytes:
    return _str(2, json.dumps(value, separators=(",", ":")))


def _extensions(number: int, node: dict[str, Any]) -> bytes:
    return b"".join(
        _bytes(number, _str(1, key) + _bytes(2, _any(value)))
        for key, value in node.items()
        if key.startswith("x-")
    )


def _schema(s: dict[str, Any]) -> bytes:
    out = [_str(1, s.get("$ref")), _str(2, s.get("format")), _str(3, s.get("title")),
           _str(4, s.get("description"))]  # fmt: skip
    if "default" in s:
        out.append(_bytes(5, _any(s["default"])))
    out += [_double(7, s.get("maximum")), _double(9, s.get("minimum"))]
    out.append(_strs(19, s.get("required") or ()))
    out += [_bytes(20, _any(v)) for v in s.get("enum") or ()]
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out.append(_bytes(21, _bytes(1, _schema(extra))))
    elif isinstance(extra, bool):
        out.append(_bytes(21, _bool(2, extra) or _varint(2 << 3) + b"\x00"))
    kind = s.get("type")
    if kind:
        out.append(_bytes(22, _strs(1, kind if isinstance(kind, list) else [kind])))
    if isinstance(s.get("items"), dict):
        out.append(_bytes(23, _bytes(1, _schema(s["items"]))))
    out += [_bytes(24, _schema(sub)) for sub in s.get("allOf") or ()]
    props = s.get("properties")
    if isinstance(props, dict):
        named = b"".join(
            _bytes(1, _str(1, name) + _bytes(2, _schema(sub))) for name, sub in props.items()
        )
        out.append(_bytes(25, named))
    out.append(_bool(27, s.get("readOnly")))
    if "example" in s:
        out.append(_bytes(30, _any(s["example"])))
    out.append(_extensions(31, s))
    return b"".join(out)


def _parameter(p: dict[str, Any]) -> bytes:
    where = p.get("in")
    if where == "body":
        schema = _bytes(5, _schema(p.get("schema") or {}))
        body = (_str(1, p.get("description")) + _str(2, p.get("name")) + _str(3, where)
                + _bool(4, p.get("required")) + schema)  # fmt: skip
        return _bytes(1, _bytes(1, body))
    common = (_bool(1, p.get("required")) + _str(2, where) + _str(3, p.get("description"))
              + _str(4, p.get("name")))  # fmt: skip
    if where == "path":
        sub = common + _str(5, p.get("type")) + _str(6, p.get("format"))
        return _bytes(1, _bytes(2, _bytes(4, sub)))
    sub = common + _str(6, p.get("type")) + _str(7, p.get("format"))
    return _bytes(1, _bytes(2, _bytes(3, sub)))  # query (and anything else) as query


def _operation(op: dict[str, Any]) -> bytes:
    out = [_strs(1, op.get("tags") or ()), _str(3, op.get("description")),
           _str(5, op.get("operationId")), _strs(6, op.get("produces") or ()),
           _strs(7, op.get("consumes") or ())]  # fmt: skip
    out += [_bytes(8, _parameter(p)) for p in op.get("parameters") or ()]
    codes = b""
    for code, resp in (op.get("responses") or {}).items():
        response = _str(1, resp.get("description"))
        if isinstance(resp.get("schema"), dict):
            response += _bytes(2, _bytes(1, _schema(resp["schema"])))
        codes += _bytes(1, _str(1, code) + _bytes(2, _bytes(1, response)))
    out.append(_bytes(9, codes))
    out += [_strs(10, op.get("schemes") or ()), _extensions(13, op)]
    return b"".join(out)


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(item: dict[str, Any]) -> bytes:
    out = [_bytes(number, _operation(item[m])) for m, number in _METHODS.items() if m in item]
    out += [_bytes(9, _parameter(p)) for p in item.get("parameters") or ()]
    out.append(_extensions(10, item))
    return b"".join(out)


def encode_document(doc: dict[str, Any]) -> bytes:
    """gnostic `openapi.v2.Document` bytes of a Swagger 2.0 JSON document."""
    info = doc.get("info") or {}
    paths = b"".join(
        _bytes(2, _str(1, path) + _bytes(2, _path_item(item)))
        for path, item in (doc.get("paths") or {}).items()
    )
    definitions = b"".join(
        _bytes(1, _str(1, name) + _bytes(2, _schema(schema)))
        for name, schema in (doc.get("definitions") or {}).items()
    )
    return b"".join([
        _str(1, doc.get("swagger")),
        _bytes(2, _str(1, info.get("title")) + _str(2, info.get("version"))),
        _bytes(8, paths),
        _bytes(9, definitions),
        _extensions(16, doc),
    ])  # fmt: skip
