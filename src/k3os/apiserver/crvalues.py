"""What a custom resource's structural schema does to an object written through it.

`prune` drops unknown fields (and reports them, as `fieldValidation` asks),
`apply_defaults` fills schema `default`s in recursively, and `validate` checks types,
formats, bounds, list types and CEL rules. Field paths are written as upstream writes
them: `spec.replicas`, `spec.ports[1].name`.

An update is judged on what it changes (upstream's validation ratcheting, GA in 1.33): a
field whose value the stored object holds as written (same value and type, `1.0` is not
`1`), and an item of a map list found by its keys, was judged when written and is not
judged again, so a status write does not walk the spec and a schema made stricter does
not refuse writes that leave the old values alone. A part under a transition rule (one
naming `oldSelf`) is judged in full, as upstream does.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import functools
import ipaddress
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from k3os.apiserver.celrules import CompiledRule, RuleError, compile_rule, evaluate_rule
from k3os.apiserver.errors import FieldError, json_type
from k3os.apiserver.validation import dns1123_problems, same_as_stored

__all__ = ["Schema", "apply_defaults", "json_type", "prune", "validate", "validate_value"]

Schema = Mapping[str, Any]
_LOGIC = ("allOf", "anyOf", "oneOf", "not")


def _pjoin(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- pruning --------------------------------------------------------------------------------


def _prune(s: Schema, value: Any, path: str, unknown: list[str], *, root: bool) -> Any:
    if value is None:
        return None
    if s.get("x-kubernetes-int-or-string") and not isinstance(value, dict | list):
        return value
    if isinstance(value, dict):
        props = s.get("properties")
        extra = s.get("additionalProperties")
        keep_all = s.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = root or s.get("x-kubernetes-embedded-resource") is True
        out: dict[str, Any] = {}
        for key, item in value.items():
            if embedded and key in ("apiVersion", "kind", "metadata"):
                out[key] = item
                continue
            sub = props.get(key) if isinstance(props, Mapping) else None
            if sub is None and isinstance(extra, Mapping):
                sub = extra
            if sub is None:
                if keep_all or extra is True:
                    out[key] = item
                else:
                    unknown.append(_pjoin(path, key))
                continue
            out[key] = _prune(sub, item, _pjoin(path, key), unknown, root=False)
        return out
    if isinstance(value, list):
        items = s.get("items")
        if not isinstance(items, Mapping):
            return value
        return [_prune(items, v, f"{path}[{i}]", unknown, root=False) for i, v in enumerate(value)]
    return value


def prune(schema: Schema, obj: Any, *, root: bool = True) -> tuple[Any, list[str]]:
    """`obj` without the fields `schema` does not know, and their paths (`spec.foo`).

    At the root (and in embedded resources) apiVersion, kind and metadata are kept: they
    are checked by the server, not the schema.
    """
    unknown: list[str] = []
    return _prune(schema, obj, "", unknown, root=root), unknown


# --- defaulting ----------------------------------------------------------------------------


def _default(s: Schema, value: Any, *, root: bool = False) -> Any:
    if isinstance(value, dict):
        props = s.get("properties")
        if isinstance(props, Mapping):
            for key, sub in props.items():
                if not isinstance(sub, Mapping) or (root and key == "metadata"):
                    continue
                if "default" in sub and (
                    key not in value or (value[key] is None and not sub.get("nullable"))
                ):
                    value[key] = copy.deepcopy(sub["default"])
                if key in value:
                    value[key] = _default(sub, value[key])
        extra = s.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key in list(value):
                value[key] = _default(extra, value[key])
    elif isinstance(value, list):
        items = s.get("items")
        if isinstance(items, Mapping):
            return [_default(items, v) for v in value]
    return value


def apply_defaults(schema: Schema, obj: Any) -> Any:
    """Fill in the schema's defaults where fields are absent (or null and not nullable)."""
    return _default(schema, obj, root=True)


# --- validation ----------------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def _format_ok(fmt: str, value: str) -> bool:
    try:
        if fmt == "date-time":
            dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            return "T" in value.upper()
        if fmt == "date":
            return bool(_DATE.match(value)) and bool(dt.date.fromisoformat(value))
        if fmt == "byte":
            base64.b64decode(value, validate=True)
            return True
        if fmt == "uuid":
            uuid.UUID(value)
            return True
        if fmt == "ipv4":
            ipaddress.IPv4Address(value)
            return True
        if fmt == "ipv6":
            ipaddress.IPv6Address(value)
            return True
        if fmt == "cidr":
            ipaddress.ip_network(value, strict=False)
            return "/" in value
        if fmt == "hostname":
            return not dns1123_problems(value)
        if fmt == "email":
            return bool(_EMAIL.match(value))
    except (ValueError, binascii.Error):
        return False
    return True  # formats we do not know are not checked (as upstream)


def _bound(kind: str, limit: Any, exclusive: bool) -> str:
    if kind == "min":
        return f"greater than {limit}" if exclusive else f"greater than or equal to {limit}"
    return f"less than {limit}" if exclusive else f"less than or equal to {limit}"


def _show(value: Any) -> Any:
    return (
        value if isinstance(value, str | int | float | bool) or value is None else json_type(value)
    )


@functools.lru_cache(maxsize=4096)
def _compiled(spec: str) -> CompiledRule:
    """Rules compile once per process, not once per write."""
    return compile_rule(json.loads(spec))


# A schema with only these keys asks a value for its type alone (the names of a Plan's
# nodes in flight, most of a custom resource's strings): checked without the full walk.
_PLAIN_KEYS = frozenset({"type", "description", "title", "default", "example", "nullable"})
_PLAIN_TYPES: dict[type, str] = {str: "string", bool: "boolean"}


_TRANSITIONS: dict[int, tuple[Schema, bool]] = {}
"""Whether a schema node has a transition rule in or under it, by the node's id (the entry
keeps the node, so its id is not reused while it is there)."""
_TRANSITIONS_MAX = 8192


def _rules(s: Schema) -> list[CompiledRule]:
    """The CEL rules of one schema node, compiled (those that do not compile were refused
    when the CRD was written, and are passed over)."""
    found = []
    for spec in s.get("x-kubernetes-validations") or ():
        try:
            found.append(_compiled(json.dumps(spec, sort_keys=True)))
        except (RuleError, TypeError, ValueError):
            continue
    return found


def _has_transition(s: Schema) -> bool:
    """Whether a CEL rule in `s` or anywhere under it names `oldSelf`."""
    hit = _TRANSITIONS.get(id(s))
    if hit is not None and hit[0] is s:
        return hit[1]
    found = any(rule.transition for rule in _rules(s))
    subs: list[Any] = [*(s.get("properties") or {}).values(), s.get("additionalProperties"),
                       s.get("items"), s.get("not")]  # fmt: skip
    for key in ("allOf", "anyOf", "oneOf"):
        subs.extend(s.get(key) or ())
    found = found or any(isinstance(sub, Mapping) and _has_transition(sub) for sub in subs)
    if len(_TRANSITIONS) >= _TRANSITIONS_MAX:
        _TRANSITIONS.clear()
    _TRANSITIONS[id(s)] = (s, found)
    return found


def _judged(s: Schema, v: Any, old: Any) -> bool:
    """Whether `v`, the stored `old` as written, was judged when it was written."""
    return same_as_stored(v, old) and not _has_transition(s)


class _Validator:
    def __init__(self, *, rules: bool = True) -> None:
        self.rules = rules

    def value(self, s: Schema, v: Any, path: str, old: Any, has_old: bool) -> list[FieldError]:
        errors: list[FieldError] = []
        if _PLAIN_TYPES.get(type(v)) == s.get("type") and s.keys() <= _PLAIN_KEYS:
            return errors  # a string or boolean of its type, and the schema asks no more
        if v is None:
            if s.get("nullable") or (
                s.get("x-kubernetes-preserve-unknown-fields") and not s.get("type")
            ):
                return errors
            kind = s.get("type") or (
                "integer or string" if s.get("x-kubernetes-int-or-string") else ""
            )
            if kind:
                errors.append(
                    FieldError(
                        "FieldValueTypeInvalid",
                        path,
                        "null",
                        f'{path} in body must be of type {kind}: "null"',
                    )
                )
            return errors
        kind = s.get("type")
        if s.get("x-kubernetes-int-or-string"):
            if not (_is_int(v) or isinstance(v, str)):
                errors.append(self._type(path, v, "integer,string"))
                return errors
        elif kind and not self._type_ok(kind, v):
            errors.append(self._type(path, v, kind))
            return errors
        if "enum" in s and v not in s["enum"]:
            errors.append(FieldError.not_supported(path, v, [_enum_text(e) for e in s["enum"]]))
        if isinstance(v, str):
            self._string(s, v, path, errors)
        elif _is_number(v):
            self._number(s, v, path, errors)
        elif isinstance(v, list):
            self._array(s, v, path, old, has_old, errors)
        elif isinstance(v, dict):
            self._object(s, v, path, old, has_old, errors)
        self._logic(s, v, path, errors)
        if self.rules and not errors:
            for rule in _rules(s):
                err = evaluate_rule(
                    rule, _for_cel(s, v), path, old=_for_cel(s, old), has_old=has_old
                )
                if err is not None:
                    errors.append(err)
        return errors

    @staticmethod
    def _type_ok(kind: str, v: Any) -> bool:
        if kind == "integer":
            return _is_int(v) or (isinstance(v, float) and v.is_integer())
        if kind == "number":
            return _is_number(v)
        return json_type(v) == kind or (kind == "object" and isinstance(v, dict))

    @staticmethod
    def _type(path: str, v: Any, expected: str) -> FieldError:
        got = json_type(v)
        return FieldError(
            "FieldValueTypeInvalid",
            path,
            got,
            f'{path} in body must be of type {expected}: "{got}"',
        )

    def _string(self, s: Schema, v: str, path: str, errors: list[FieldError]) -> None:
        if "maxLength" in s and len(v) > int(s["maxLength"]):
            errors.append(FieldError.too_long(path, int(s["maxLength"])))
        if "minLength" in s and len(v) < int(s["minLength"]):
            errors.append(
                FieldError.invalid(
                    path, v, f"{path} in body should be at least {s['minLength']} chars long"
                )
            )
        pattern = s.get("pattern")
        if isinstance(pattern, str):
            try:
                matched = re.search(pattern, v) is not None
            except re.error:
                matched = True
            if not matched:
                errors.append(
                    FieldError.invalid(path, v, f"{path} in body should match '{pattern}'")
                )
        fmt = s.get("format")
        if isinstance(fmt, str) and fmt and not _format_ok(fmt, v):
            errors.append(
                FieldError.invalid(path, v, f'{path} in body must be of type {fmt}: "{v}"')
            )

    def _number(self, s: Schema, v: float, path: str, errors: list[FieldError]) -> None:
        for key, kind, excl in (
            ("minimum", "min", "exclusiveMinimum"),
            ("maximum", "max", "exclusiveMaximum"),
        ):
            if key not in s:
                continue
            limit = s[key]
            exclusive = bool(s.get(excl))
            bad = (
                (v < limit or (exclusive and v == limit))
                if kind == "min"
                else (v > limit or (exclusive and v == limit))
            )
            if bad:
                errors.append(
                    FieldError.invalid(
                        path, v, f"{path} in body should be {_bound(kind, limit, exclusive)}"
                    )
                )
        step = s.get("multipleOf")
        if _is_number(step) and step and (v / step) != int(v / step):
            errors.append(
                FieldError.invalid(path, v, f"{path} in body should be a multiple of {step}")
            )
        fmt = s.get("format")
        if fmt in _INT_RANGES and _is_int(v):
            low, high = _INT_RANGES[fmt]
            if not low <= v <= high:
                errors.append(FieldError.invalid(path, v, f"{path} in body must be of type {fmt}"))

    def _array(
        self, s: Schema, v: list[Any], path: str, old: Any, has_old: bool, errors: list[FieldError]
    ) -> None:
        if "maxItems" in s and len(v) > int(s["maxItems"]):
            errors.append(
                FieldError(
                    "FieldValueTooMany", path, len(v), f"must have at most {s['maxItems']} items"
                )
            )
        if "minItems" in s and len(v) < int(s["minItems"]):
            errors.append(
                FieldError.invalid(
                    path, len(v), f"{path} in body should have at least {s['minItems']} items"
                )
            )
        items = s.get("items")
        list_type = s.get("x-kubernetes-list-type")
        if list_type is None and isinstance(items, Mapping) and items.keys() <= _PLAIN_KEYS:
            kind = items.get("type")
            if all(_PLAIN_TYPES.get(type(item)) == kind for item in v):
                return  # strings or booleans of their type, and the schema asks no more
        keys = tuple(s.get("x-kubernetes-list-map-keys") or ())
        old_by_key: dict[str, Any] = {}
        if list_type == "map" and has_old and isinstance(old, list):
            for o in old:
                if isinstance(o, dict):
                    old_by_key[_key_of(o, keys)] = o
        seen: set[str] = set()
        for i, item in enumerate(v):
            where = f"{path}[{i}]"
            if list_type == "set":
                ident = json.dumps(item, sort_keys=True)
                if ident in seen:
                    errors.append(FieldError.duplicate(where, item))
                seen.add(ident)
            elif list_type == "map" and isinstance(item, dict):
                ident = _key_of(item, keys)
                if ident in seen:
                    errors.append(FieldError.duplicate(where, {k: item.get(k) for k in keys}))
                seen.add(ident)
            if isinstance(items, Mapping):
                prev = (
                    old_by_key.get(_key_of(item, keys)) if isinstance(item, dict) and keys else None
                )
                if prev is not None and _judged(items, item, prev):
                    continue
                errors.extend(self.value(items, item, where, prev, prev is not None))

    def _object(
        self,
        s: Schema,
        v: dict[str, Any],
        path: str,
        old: Any,
        has_old: bool,
        errors: list[FieldError],
    ) -> None:
        olds = old if has_old and isinstance(old, dict) else {}
        for key in s.get("required") or ():
            if key not in v:
                errors.append(FieldError.required(_pjoin(path, key)))
        if "maxProperties" in s and len(v) > int(s["maxProperties"]):
            errors.append(
                FieldError(
                    "FieldValueTooMany",
                    path,
                    len(v),
                    f"must have at most {s['maxProperties']} items",
                )
            )
        if "minProperties" in s and len(v) < int(s["minProperties"]):
            errors.append(
                FieldError.invalid(
                    path,
                    len(v),
                    f"{path} in body should have at least {s['minProperties']} properties",
                )
            )
        props = s.get("properties") or {}
        extra = s.get("additionalProperties")
        for key, item in v.items():
            sub = props.get(key)
            if sub is None and isinstance(extra, Mapping):
                sub = extra
            if isinstance(sub, Mapping):
                if key in olds and _judged(sub, item, olds[key]):
                    continue
                errors.extend(self.value(sub, item, _pjoin(path, key), olds.get(key), key in olds))

    def _logic(self, s: Schema, v: Any, path: str, errors: list[FieldError]) -> None:
        plain = _Validator(rules=False)
        for sub in s.get("allOf") or ():
            errors.extend(plain.value(sub, v, path, None, False))
        if s.get("anyOf") and all(plain.value(sub, v, path, None, False) for sub in s["anyOf"]):
            errors.append(
                FieldError.invalid(
                    path, _show(v), f"{path} in body must match at least one schema in anyOf"
                )
            )
        if s.get("oneOf"):
            matches = sum(1 for sub in s["oneOf"] if not plain.value(sub, v, path, None, False))
            if matches != 1:
                errors.append(
                    FieldError.invalid(
                        path, _show(v), f"{path} in body must match exactly one schema in oneOf"
                    )
                )
        if isinstance(s.get("not"), Mapping) and not plain.value(s["not"], v, path, None, False):
            errors.append(
                FieldError.invalid(
                    path, _show(v), f"{path} in body should not match the schema in not"
                )
            )


def _enum_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _key_of(item: Any, keys: tuple[str, ...]) -> str:
    if not isinstance(item, dict):
        return json.dumps(item, sort_keys=True)
    return json.dumps([item.get(k) for k in keys])


def _for_cel(s: Schema, v: Any) -> Any:
    """JSON values as CEL sees them: `number` fields are doubles even when written as 1."""
    if v is None:
        return None
    kind = s.get("type")
    if kind == "number" and _is_int(v):
        return float(v)
    if kind == "integer" and isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        props = s.get("properties") or {}
        extra = s.get("additionalProperties")
        out = {}
        for key, item in v.items():
            sub = props.get(key) if isinstance(props, Mapping) else None
            if sub is None and isinstance(extra, Mapping):
                sub = extra
            out[key] = _for_cel(sub, item) if isinstance(sub, Mapping) else item
        return out
    if isinstance(v, list) and isinstance(s.get("items"), Mapping):
        return [_for_cel(s["items"], item) for item in v]
    return v


_METADATA: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
"""What `validate` checks of metadata (name and generateName only; the rest is the API's)."""


def validate(schema: Schema, obj: Any, old: Any = None) -> list[FieldError]:
    """Every way `obj` (pruned and defaulted) breaks `schema`; `old` is the stored object on
    updates (transition rules compare with it). `metadata` is not checked here."""
    body = {k: v for k, v in obj.items() if k != "metadata"} if isinstance(obj, dict) else obj
    props = dict(schema.get("properties") or {})
    props.pop("metadata", None)
    root = {**schema, "properties": props}
    if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
        meta = obj["metadata"]
        body["metadata"] = {k: meta[k] for k in ("name", "generateName") if k in meta}
        props["metadata"] = _METADATA
    old_body = None
    if old is not None:
        old_body = dict(old)
        old_meta = old.get("metadata") or {}
        old_body["metadata"] = {k: old_meta[k] for k in ("name", "generateName") if k in old_meta}
    return _Validator().value(root, body, "", old_body, old is not None)


def validate_value(schema: Schema, value: Any, path: str) -> list[FieldError]:
    """`value` against `schema` without CEL rules (a default in a CRD, for one)."""
    return _Validator(rules=False).value(schema, value, path, None, False)
