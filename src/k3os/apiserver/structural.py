"""Structural schemas: the checks a CRD version's `openAPIV3Schema` must pass before the
CRD is stored (every field typed, no `$ref`, list types that make sense, defaults that
validate, CEL rules that compile), with errors at upstream's paths:
`spec.versions[0].schema.openAPIV3Schema.properties[spec].type`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from k3os.apiserver.celrules import RuleError, compile_rule
from k3os.apiserver.crvalues import json_type as _json_type
from k3os.apiserver.crvalues import prune, validate_value
from k3os.apiserver.errors import FieldError
from k3os.apiserver.jsoncopy import deep_copy

__all__ = ["check_structural"]

Schema = Mapping[str, Any]

_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_UNSUPPORTED = (
    "$ref",
    "additionalItems",
    "patternProperties",
    "dependencies",
    "definitions",
    "id",
    "$schema",
)
_META_FIELDS = frozenset(("name", "generateName"))
_JUNCTOR_FORBIDDEN = (
    "default",
    "nullable",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
)


_LOGIC = ("allOf", "anyOf", "oneOf", "not")


def _pjoin(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- structural checks of the schema itself ---------------------------------------------


class _SchemaChecker:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, err: FieldError) -> None:
        self.errors.append(err)

    def node(
        self,
        s: Any,
        path: str,
        *,
        what: str,
        root: bool = False,
        logic: bool = False,
        in_metadata: bool = False,
    ) -> None:
        if not isinstance(s, Mapping):
            self.add(FieldError.invalid(path, _json_type(s), "must be an object"))
            return
        for key in _UNSUPPORTED:
            if key in s:
                self.add(FieldError.forbidden(_pjoin(path, key), f"{key} is not supported"))
        if s.get("uniqueItems") is True:
            self.add(
                FieldError.forbidden(
                    _pjoin(path, "uniqueItems"),
                    "uniqueItems cannot be set to true since the runtime complexity becomes "
                    "quadratic",
                )
            )
        kind = s.get("type")
        int_or_string = s.get("x-kubernetes-int-or-string") is True
        preserve = s.get("x-kubernetes-preserve-unknown-fields")
        if preserve is not None and preserve is not True:
            self.add(
                FieldError.invalid(
                    _pjoin(path, "x-kubernetes-preserve-unknown-fields"),
                    preserve,
                    "must be true or undefined",
                )
            )
        if logic:
            for key in _JUNCTOR_FORBIDDEN:
                if key in s:
                    self.add(
                        FieldError.forbidden(
                            _pjoin(path, key), "must not be used inside of logical junctors"
                        )
                    )
        elif (kind is None or kind == "") and not int_or_string and preserve is not True:
            self.add(
                FieldError.required(_pjoin(path, "type"), f"must not be empty for specified {what}")
            )
        if kind not in (None, "") and kind not in _TYPES:
            self.add(FieldError.not_supported(_pjoin(path, "type"), kind, _TYPES))
        if int_or_string and kind not in (None, ""):
            self.add(
                FieldError.invalid(
                    _pjoin(path, "type"), kind, "must be empty to be structural"
                )  # int-or-string carries its own type
            )
        if root and kind != "object":
            self.add(
                FieldError.invalid(_pjoin(path, "type"), kind or "", "must be object at the root")
            )
        if "pattern" in s:
            try:
                re.compile(str(s["pattern"]))
            except re.error as e:
                self.add(
                    FieldError.invalid(
                        _pjoin(path, "pattern"), s["pattern"], f"must be a valid regex: {e}"
                    )
                )
        props = s.get("properties")
        extra = s.get("additionalProperties")
        if props is not None and extra not in (None, True, False):
            self.add(
                FieldError.forbidden(
                    _pjoin(path, "additionalProperties"),
                    "additionalProperties and properties are mutual exclusive",
                )
            )
        if extra is False and not logic:
            self.add(
                FieldError.forbidden(
                    _pjoin(path, "additionalProperties"), "must not be false in structural schemas"
                )
            )
        if kind == "array" and not logic and not isinstance(s.get("items"), Mapping):
            self.add(FieldError.required(_pjoin(path, "items"), "must be specified"))
        if isinstance(props, Mapping):
            for name, sub in props.items():
                sub_path = f"{path}.properties[{name}]"
                if root and name == "metadata":
                    self.metadata(sub, sub_path)
                    continue
                self.node(sub, sub_path, what="object fields", logic=logic)
        if isinstance(extra, Mapping):
            self.node(
                extra, _pjoin(path, "additionalProperties"), what="object fields", logic=logic
            )
        if isinstance(s.get("items"), Mapping):
            self.node(s["items"], _pjoin(path, "items"), what="array items", logic=logic)
        for key in _LOGIC:
            value = s.get(key)
            if key == "not" and value is not None:
                self.node(value, _pjoin(path, key), what="", logic=True)
            elif isinstance(value, list):
                for i, sub in enumerate(value):
                    self.node(sub, f"{path}.{key}[{i}]", what="", logic=True)
        self.list_type(s, path)
        if "default" in s and not logic:
            self.default(s, path)
        self.rules(s, path)

    def metadata(self, s: Any, path: str) -> None:
        if not isinstance(s, Mapping):
            self.add(FieldError.invalid(path, _json_type(s), "must be an object"))
            return
        if s.get("type") not in (None, "object"):
            self.add(FieldError.invalid(_pjoin(path, "type"), s.get("type"), "must be object"))
        extra = set(s) - {"type", "properties", "description"}
        names = set((s.get("properties") or {}).keys())
        if extra or names - _META_FIELDS:
            self.add(
                FieldError.forbidden(
                    path,
                    "must not specify anything other than name and generateName, but metadata "
                    "is implicitly specified",
                )
            )

    def list_type(self, s: Schema, path: str) -> None:
        list_type = s.get("x-kubernetes-list-type")
        keys = s.get("x-kubernetes-list-map-keys")
        where = _pjoin(path, "x-kubernetes-list-type")
        if list_type is None:
            if keys is not None:
                self.add(
                    FieldError.forbidden(
                        _pjoin(path, "x-kubernetes-list-map-keys"),
                        "must only be set if x-kubernetes-list-type is map",
                    )
                )
            return
        if list_type not in ("atomic", "set", "map"):
            self.add(FieldError.not_supported(where, list_type, ("atomic", "set", "map")))
            return
        if s.get("type") != "array":
            self.add(FieldError.invalid(where, list_type, "must only be used on type array"))
            return
        items = s.get("items") if isinstance(s.get("items"), Mapping) else {}
        assert isinstance(items, Mapping)
        if (
            list_type == "set"
            and items.get("type") in ("object", "array")
            and items.get("x-kubernetes-map-type") != "atomic"
        ):
            self.add(
                FieldError.invalid(where, "set", "only allowed for items of scalar or atomic type")
            )
        if list_type == "map":
            key_path = _pjoin(path, "x-kubernetes-list-map-keys")
            if not keys:
                self.add(
                    FieldError.required(
                        key_path, "must not be empty if x-kubernetes-list-type is map"
                    )
                )
                return
            if items.get("type") != "object":
                self.add(
                    FieldError.invalid(
                        _pjoin(path, "items.type"),
                        items.get("type"),
                        "must be object for a map list",
                    )
                )
                return
            item_props = items.get("properties") or {}
            required = set(items.get("required") or ())
            for key in keys:
                prop = item_props.get(key)
                if not isinstance(prop, Mapping):
                    self.add(
                        FieldError.invalid(
                            key_path, key, "entries must all be names of item properties"
                        )
                    )
                elif prop.get("type") in ("object", "array"):
                    self.add(
                        FieldError.invalid(key_path, key, "must be a scalar field of the items")
                    )
                elif key not in required and "default" not in prop:
                    self.add(
                        FieldError.required(
                            f"{path}.items.properties[{key}]",
                            "all map keys must be required or have a default value",
                        )
                    )

    def default(self, s: Schema, path: str) -> None:
        value = s["default"]
        where = _pjoin(path, "default")
        if value is None and not s.get("nullable"):
            self.add(FieldError.invalid(where, None, "must not be null for non-nullable field"))
            return
        pruned, unknown = prune(s, deep_copy(value), root=False)
        if unknown:
            self.add(
                FieldError.invalid(
                    where, value, f"must not have unknown fields: {', '.join(unknown)}"
                )
            )
        for err in validate_value(s, pruned, where):
            self.add(err)

    def rules(self, s: Schema, path: str) -> None:
        rules = s.get("x-kubernetes-validations")
        if rules is None:
            return
        if not isinstance(rules, list):
            self.add(
                FieldError.invalid(
                    _pjoin(path, "x-kubernetes-validations"), rules, "must be a list"
                )
            )
            return
        for i, spec in enumerate(rules):
            where = f"{path}.x-kubernetes-validations[{i}]"
            if not isinstance(spec, Mapping):
                self.add(FieldError.invalid(where, spec, "must be an object"))
                continue
            try:
                compile_rule(spec)
            except RuleError as e:
                self.add(FieldError.invalid(_pjoin(where, "rule"), spec.get("rule", ""), str(e)))


def check_structural(schema: Any, path: str) -> list[FieldError]:
    """Why `schema` (a CRD version's openAPIV3Schema at `path`) is not structural."""
    checker = _SchemaChecker()
    checker.node(schema, path, what="object fields", root=True)
    return checker.errors
