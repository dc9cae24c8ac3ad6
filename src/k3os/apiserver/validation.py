"""Check a request body against its kind's schema: wrong types, missing required fields,
unknown fields (which are dropped, and reported as the request's `fieldValidation` asks).

Upstream decodes typed bodies first (a wrong type is a 400 decoding error; an unknown
field is dropped, or refused under `fieldValidation=Strict`) and validates after (a
missing required field is a 422 with one cause per field). We do both in one walk.
"""

from __future__ import annotations

import base64
import binascii
import marshal
import re
from dataclasses import dataclass, field
from typing import Any

from k3os.apiserver.errors import BadRequest, FieldError, Invalid, json_type
from k3os.apiserver.schemas import resolve

__all__ = ["Checked", "check_object", "dns1123_problems", "same_as_stored", "validate_name"]


@dataclass
class Checked:
    """The pruned object and what the walk found."""

    obj: Any
    type_errors: list[str] = field(default_factory=list)
    required: list[FieldError] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# A body that does not decode is described with the Go decoder's type names.
_DECODER_TYPE = {"boolean": "bool", "integer": "number"}


class _Walker:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.out = Checked(None)

    def bad_type(self, path: str, value: Any, expected: str) -> None:
        got = json_type(value)
        self.out.type_errors.append(
            f"{path or '<root>'}: expected {expected}, got {_DECODER_TYPE.get(got, got)}"
        )

    def walk(self, schema: dict[str, Any], value: Any, path: str, known: Any = None) -> Any:
        if str(schema.get("$ref", "")).endswith(".resource.Quantity"):
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                self.bad_type(path, value, "a quantity (string or number)")
            return value
        schema = resolve(self.defs, schema)
        if value is None:
            return None
        kind = schema.get("type")
        if schema.get("format") == "int-or-string":
            if isinstance(value, bool) or not isinstance(value, int | str):
                self.bad_type(path, value, "an integer or a string")
            return value
        if kind == "object" or (kind is None and "properties" in schema):
            return self.walk_object(schema, value, path, known)
        if kind == "array":
            if not isinstance(value, list):
                self.bad_type(path, value, "array")
                return value
            items = schema.get("items") or {}
            if isinstance(known, list) and len(known) == len(value):
                return [
                    v if same_as_stored(v, k) else self.walk(items, v, f"{path}[{i}]", k)
                    for i, (v, k) in enumerate(zip(value, known, strict=True))
                ]
            return [self.walk(items, v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "string":
            if not isinstance(value, str):
                self.bad_type(path, value, "string")
            elif schema.get("format") == "byte":
                try:
                    base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    self.out.type_errors.append(f"{path}: illegal base64 data")
        elif kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                if not (isinstance(value, float) and value.is_integer()):
                    self.bad_type(path, value, "integer")
                else:
                    return int(value)
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.bad_type(path, value, "number")
        elif kind == "boolean" and not isinstance(value, bool):
            self.bad_type(path, value, "boolean")
        return value

    def walk_object(self, schema: dict[str, Any], value: Any, path: str, known: Any = None) -> Any:
        if not isinstance(value, dict):
            self.bad_type(path, value, "object")
            return value
        props: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep_unknown = bool(schema.get("x-kubernetes-preserve-unknown-fields")) or (
            not props and extra is None
        )
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = props.get(key)
            if sub is None and isinstance(extra, dict):
                sub = extra
            if sub is None:
                if keep_unknown:
                    out[key] = item
                else:
                    self.out.unknown.append(_join(path, key))
                continue
            was = known.get(key) if isinstance(known, dict) else None
            if was is not None and same_as_stored(item, was):
                out[key] = item  # as stored, so checked already
                continue
            out[key] = self.walk(sub, item, _join(path, key), was)
        for key in schema.get("required") or ():
            if value.get(key) is None and key in props:
                self.out.required.append(FieldError.required(_join(path, key)))
        return out


_SCALARS = (str, int, float, bool)


def same_as_stored(value: Any, known: Any) -> bool:
    """Whether a value is the stored one's, to the type of every leaf (`==` alone takes
    1.0 and True for 1). A patch's result shares what it left alone with the stored
    object: those parts are the same objects, and are not compared."""
    kind = type(value)
    if kind is not type(known):
        return False
    if kind in _SCALARS:
        return bool(value == known)
    if value is known and kind in (dict, list):
        return True
    if not isinstance(value, dict | list) or value != known:
        return False
    if isinstance(value, dict):
        pairs = [(v, known[k]) for k, v in value.items() if v is not known[k]]
    else:
        pairs = [(v, k) for v, k in zip(value, known, strict=True) if v is not k]
    ours, theirs = [p[0] for p in pairs], [p[1] for p in pairs]
    try:  # version 0: the bytes depend on values and types only (no sharing, no interning)
        return marshal.dumps(ours, 0) == marshal.dumps(theirs, 0)
    except ValueError:  # not plain JSON data
        return False


def check_object(defs: dict[str, Any], definition: str, obj: Any, known: Any = None) -> Checked:
    """Walk `obj` against the named definition; nothing is raised here.

    `known` is the stored object `obj` replaces (checked by this walk when it was
    written): the values `obj` holds unchanged (same types to every leaf) are not walked
    again."""
    walker = _Walker(defs)
    walker.out.obj = walker.walk({"$ref": "#/definitions/" + definition}, obj, "", known)
    return walker.out


def raise_for(
    checked: Checked, *, kind: str, name: str, group: str, version: str, mode: str
) -> list[str]:
    """Raise the errors `checked` holds as upstream would; return warnings to send.

    `mode` is the request's fieldValidation: Strict, Warn (the default) or Ignore.
    """
    gv = f"{group}/{version}" if group else version
    if checked.type_errors:
        raise BadRequest(
            f'{kind} in version "{gv}" cannot be handled as a {kind}: '
            + "; ".join(checked.type_errors)
        )
    warnings: list[str] = []
    if checked.unknown and mode != "Ignore":
        texts = [f'unknown field "{p}"' for p in checked.unknown]
        if mode == "Strict":
            raise BadRequest("strict decoding error: " + ", ".join(texts))
        warnings.extend(texts)
    if checked.required:
        raise Invalid(kind, name, checked.required, group=group)
    return warnings


_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns1123_problems(name: str, *, label: bool = False) -> list[str]:
    """Why `name` is not a DNS-1123 subdomain (a label with `label`); empty when it is."""
    limit, pattern = (63, _DNS1123_LABEL) if label else (253, _DNS1123_SUBDOMAIN)
    if len(name) > limit:
        return [f"must be no more than {limit} characters"]
    if pattern.match(name):
        return []
    if label:
        return [
            "a lowercase RFC 1123 label must consist of lower case alphanumeric "
            "characters or '-', and must start and end with an alphanumeric character"
        ]
    return [
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
        "characters, '-' or '.', and must start and end with an alphanumeric character"
    ]


def validate_name(
    name: str, *, label: bool = False, path: str = "metadata.name", path_segment: bool = False
) -> list[FieldError]:
    """Object names: DNS-1123 subdomains (labels for namespaces), as upstream checks them.
    RBAC objects only need to be a path segment (`system:node` is a valid ClusterRole)."""
    if path_segment:
        if name in (".", "..") or "/" in name or "%" in name:
            return [FieldError.invalid(path, name, "may not be '.' or '..' or contain '/' or '%'")]
        return []
    return [FieldError.invalid(path, name, p) for p in dns1123_problems(name, label=label)]
