"""Structural schema checks of CRD versions: one case per rule, errors at upstream paths."""

from __future__ import annotations

from typing import Any

import pytest

from k3os.apiserver.structural import check_structural

ROOT = "spec.versions[0].schema.openAPIV3Schema"


def _spec(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": props}}}


def _errors(schema: Any) -> list[str]:
    return [str(e) for e in check_structural(schema, ROOT)]


P = f"{ROOT}.properties[spec].properties"

CASES: list[tuple[str, Any, list[str]]] = [
    ("a good schema", _spec(a={"type": "string"}, n={"type": "integer", "default": 2}), []),
    ("root must be object", {"type": "string"},
     [f'{ROOT}.type: Invalid value: "string": must be object at the root']),
    ("not an object", {"type": "object", "properties": {"spec": 5}},
     [f'{ROOT}.properties[spec]: Invalid value: "integer": must be an object']),
    ("missing type", _spec(a={"description": "x"}),
     [f"{P}[a].type: Required value: must not be empty for specified object fields"]),
    ("missing item type", _spec(a={"type": "array", "items": {}}),
     [f"{P}[a].items.type: Required value: must not be empty for specified array items"]),
    ("unknown type", _spec(a={"type": "float"}),
     [f'{P}[a].type: Unsupported value: "float": supported values: "array", "boolean", '
      '"integer", "number", "object", "string"']),
    ("array without items", _spec(a={"type": "array"}),
     [f"{P}[a].items: Required value: must be specified"]),
    ("$ref", _spec(a={"type": "object", "$ref": "#/x"}),
     [f"{P}[a].$ref: Forbidden: $ref is not supported"]),
    ("uniqueItems", _spec(a={"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
     [f"{P}[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime "
      "complexity becomes quadratic"]),
    ("preserve false", _spec(a={"type": "object", "x-kubernetes-preserve-unknown-fields": False}),
     [f"{P}[a].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or "
      "undefined"]),
    ("preserve needs no type", _spec(a={"x-kubernetes-preserve-unknown-fields": True}), []),
    ("int-or-string", _spec(a={"x-kubernetes-int-or-string": True}), []),
    ("int-or-string with a type", _spec(a={"type": "string", "x-kubernetes-int-or-string": True}),
     [f'{P}[a].type: Invalid value: "string": must be empty to be structural']),
    ("bad pattern", _spec(a={"type": "string", "pattern": "("}),
     [f'{P}[a].pattern: Invalid value: "(": must be a valid regex: missing ), unterminated '
      "subpattern at position 0"]),
    ("properties and additionalProperties",
     _spec(a={"type": "object", "properties": {"b": {"type": "string"}},
              "additionalProperties": {"type": "string"}}),
     [f"{P}[a].additionalProperties: Forbidden: additionalProperties and properties are "
      "mutual exclusive"]),
    ("additionalProperties false", _spec(a={"type": "object", "additionalProperties": False}),
     [f"{P}[a].additionalProperties: Forbidden: must not be false in structural schemas"]),
    ("a map", _spec(a={"type": "object", "additionalProperties": {"type": "integer"}}), []),
    ("metadata with more than names",
     {"type": "object", "properties": {"metadata": {"type": "object", "properties": {
         "labels": {"type": "object"}}}}},
     [f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than name and "
      "generateName, but metadata is implicitly specified"]),
    ("metadata not object", {"type": "object", "properties": {"metadata": {"type": "string"}}},
     [f'{ROOT}.properties[metadata].type: Invalid value: "string": must be object']),
    ("metadata name ok", {"type": "object", "properties": {"metadata": {"type": "object",
     "properties": {"name": {"type": "string", "maxLength": 10}}}}}, []),
    ("bad list type", _spec(a={"type": "array", "items": {"type": "string"},
                               "x-kubernetes-list-type": "bag"}),
     [f'{P}[a].x-kubernetes-list-type: Unsupported value: "bag": supported values: "atomic", '
      '"set", "map"']),
    ("list type on a string", _spec(a={"type": "string", "x-kubernetes-list-type": "set"}),
     [f'{P}[a].x-kubernetes-list-type: Invalid value: "set": must only be used on type array']),
    ("set of objects", _spec(a={"type": "array", "items": {"type": "object"},
                                "x-kubernetes-list-type": "set"}),
     [f'{P}[a].x-kubernetes-list-type: Invalid value: "set": only allowed for items of scalar '
      "or atomic type"]),
    ("map without keys", _spec(a={"type": "array", "items": {"type": "object"},
                                  "x-kubernetes-list-type": "map"}),
     [f"{P}[a].x-kubernetes-list-map-keys: Required value: must not be empty if "
      "x-kubernetes-list-type is map"]),
    ("keys without map", _spec(a={"type": "array", "items": {"type": "string"},
                                  "x-kubernetes-list-map-keys": ["x"]}),
     [f"{P}[a].x-kubernetes-list-map-keys: Forbidden: must only be set if "
      "x-kubernetes-list-type is map"]),
    ("map of strings", _spec(a={"type": "array", "items": {"type": "string"},
                                "x-kubernetes-list-type": "map",
                                "x-kubernetes-list-map-keys": ["name"]}),
     [f'{P}[a].items.type: Invalid value: "string": must be object for a map list']),
    ("map key not a property", _spec(a={"type": "array", "x-kubernetes-list-type": "map",
                                        "x-kubernetes-list-map-keys": ["name"],
                                        "items": {"type": "object", "properties": {}}}),
     [f'{P}[a].x-kubernetes-list-map-keys: Invalid value: "name": entries must all be names '
      "of item properties"]),
    ("map key not scalar", _spec(a={"type": "array", "x-kubernetes-list-type": "map",
                                    "x-kubernetes-list-map-keys": ["name"],
                                    "items": {"type": "object", "required": ["name"],
                                              "properties": {"name": {"type": "object"}}}}),
     [f'{P}[a].x-kubernetes-list-map-keys: Invalid value: "name": must be a scalar field of '
      "the items"]),
    ("map key optional", _spec(a={"type": "array", "x-kubernetes-list-type": "map",
                                  "x-kubernetes-list-map-keys": ["name"],
                                  "items": {"type": "object",
                                            "properties": {"name": {"type": "string"}}}}),
     [f"{P}[a].items.properties[name]: Required value: all map keys must be required or have "
      "a default value"]),
    ("good map", _spec(a={"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"],
                                    "properties": {"name": {"type": "string"}}}}), []),
    ("default of the wrong type", _spec(a={"type": "string", "default": 5}),
     [f'{P}[a].default: Invalid value: "integer": {P}[a].default in body must be of type '
      'string: "integer"']),
    ("null default", _spec(a={"type": "string", "default": None}),
     [f"{P}[a].default: Invalid value: null: must not be null for non-nullable field"]),
    ("default with unknown fields",
     _spec(a={"type": "object", "properties": {"b": {"type": "string"}}, "default": {"c": 1}}),
     [f'{P}[a].default: Invalid value: {{"c":1}}: must not have unknown fields: c']),
    ("default below minimum", _spec(a={"type": "integer", "minimum": 3, "default": 1}),
     [f"{P}[a].default: Invalid value: 1: {P}[a].default in body should be greater than or "
      "equal to 3"]),
    ("junctors", _spec(a={"type": "string", "anyOf": [{"pattern": "^a"}, {"default": "x"}]}),
     [f"{P}[a].anyOf[1].default: Forbidden: must not be used inside of logical junctors"]),
    ("not", _spec(a={"type": "string", "not": {"nullable": True}}),
     [f"{P}[a].not.nullable: Forbidden: must not be used inside of logical junctors"]),
    ("rule ok", _spec(a={"type": "integer", "x-kubernetes-validations": [{"rule": "self > 0"}]}),
     []),
    ("rules not a list", _spec(a={"type": "integer", "x-kubernetes-validations": "self > 0"}),
     [f'{P}[a].x-kubernetes-validations: Invalid value: "self > 0": must be a list']),
    ("rule not an object", _spec(a={"type": "integer", "x-kubernetes-validations": ["x"]}),
     [f'{P}[a].x-kubernetes-validations[0]: Invalid value: "x": must be an object']),
    ("rule with another variable",
     _spec(a={"type": "integer", "x-kubernetes-validations": [{"rule": "other > 0"}]}),
     [f'{P}[a].x-kubernetes-validations[0].rule: Invalid value: "other > 0": compilation '
      "failed: undeclared reference to 'other'"]),
]  # fmt: skip


@pytest.mark.parametrize(("schema", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_structural_checks(schema: Any, expected: list[str]) -> None:
    assert _errors(schema) == expected


def test_a_rule_that_does_not_parse_says_where() -> None:
    (err,) = check_structural(
        _spec(a={"type": "integer", "x-kubernetes-validations": [{"rule": "self >"}]}), ROOT
    )
    assert err.field == f"{P}[a].x-kubernetes-validations[0].rule"
    assert "compilation failed: Failed to parse expression 'self >'" in err.detail
    assert "\n" not in err.detail


def test_nested_errors_are_all_reported() -> None:
    schema = _spec(
        a={"type": "object", "properties": {"b": {}, "c": {"type": "array"}}},
        d={"type": "object", "additionalProperties": {"type": "array"}},
    )
    assert _errors(schema) == [
        f"{P}[a].properties[b].type: Required value: must not be empty for specified object fields",
        f"{P}[a].properties[c].items: Required value: must be specified",
        f"{P}[d].additionalProperties.items: Required value: must be specified",
    ]
