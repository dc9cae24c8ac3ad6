"""What a structural schema does to custom resources: pruning, defaulting, validation
(with upstream's field paths and messages) and CEL rules, including transition rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k3os.apiserver.celrules import RuleError, compile_rule, evaluate_rule
from k3os.apiserver.crvalues import apply_defaults, json_type, prune, validate, validate_value

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                          "exclusiveMaximum": True, "maximum": 1, "multipleOf": 0.25},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "when": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"},
                "id": {"type": "string", "format": "uuid"},
                "ip": {"type": "string", "format": "ipv4"},
                "ip6": {"type": "string", "format": "ipv6"},
                "net": {"type": "string", "format": "cidr"},
                "host": {"type": "string", "format": "hostname"},
                "mail": {"type": "string", "format": "email"},
                "blob": {"type": "string", "format": "byte"},
                "small": {"type": "integer", "format": "int32"},
                "on": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                         "maxItems": 3, "x-kubernetes-list-type": "set"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"], "properties": {
                              "name": {"type": "string"},
                              "number": {"type": "integer", "default": 80}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"},
                           "maxProperties": 2, "minProperties": 1},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "embedded": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "properties": {"data": {"type": "string"}}},
                "either": {"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]},
                "one": {"type": "integer", "oneOf": [{"minimum": 5}, {"maximum": 7}]},
                "all": {"type": "integer", "allOf": [{"minimum": 1}]},
                "notx": {"type": "string", "not": {"pattern": "^x"}},
                "defaults": {"type": "object", "default": {},
                             "properties": {"inner": {"type": "string", "default": "in"}}},
            },
            "required": ["name"],
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}  # fmt: skip


def _obj(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec}


def test_prune_drops_and_reports_unknown_fields() -> None:
    obj = _obj(
        name="ab",
        extra=1,
        ports=[{"name": "a", "bogus": True}],
        free={"any": {"thing": 1}},
        labels={"a": "b"},
        embedded={"apiVersion": "v1", "kind": "Pod", "metadata": {"x": 1}, "data": "d", "no": 1},
    )
    obj["top"] = True
    pruned, unknown = prune(SCHEMA, copy.deepcopy(obj))
    assert unknown == ["spec.extra", "spec.ports[0].bogus", "spec.embedded.no", "top"]
    assert pruned["spec"]["free"] == {"any": {"thing": 1}}
    assert pruned["spec"]["embedded"]["metadata"] == {"x": 1}
    assert pruned["metadata"] == {"name": "a"}
    assert "top" not in pruned


def test_defaults_fill_absent_fields_recursively() -> None:
    obj = apply_defaults(SCHEMA, _obj(name="ab", ports=[{"name": "a"}], note=None, replicas=None))
    spec = obj["spec"]
    assert spec["replicas"] == 1  # null and not nullable: defaulted
    assert spec["note"] is None  # nullable: kept
    assert spec["ports"] == [{"name": "a", "number": 80}]
    assert spec["defaults"] == {"inner": "in"}  # the default itself is defaulted


def test_defaults_do_not_touch_metadata() -> None:
    schema = {"type": "object", "properties": {"metadata": {"type": "object", "default": {}}}}
    assert apply_defaults(schema, {"a": 1}) == {"a": 1}


S = "spec"
CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("valid", {"name": "ab"}, []),
    ("required", {}, ["spec.name: Required value"]),
    ("wrong type", {"name": 5},
     ['spec.name: Invalid value: "integer": spec.name in body must be of type string: "integer"']),
    ("integer as whole float", {"name": "ab", "replicas": 2.0}, []),
    ("integer as float", {"name": "ab", "replicas": 2.5},
     ['spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: '
      '"number"']),
    ("pattern", {"name": "A1"},
     ["spec.name: Invalid value: \"A1\": spec.name in body should match '^[a-z]+$'"]),
    ("minLength", {"name": "a"},
     ['spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long']),
    ("maxLength", {"name": "abcdef"}, ["spec.name: Too long: may not be more than 5 bytes"]),
    ("minimum", {"name": "ab", "replicas": 0},
     ["spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal "
      "to 1"]),
    ("maximum", {"name": "ab", "replicas": 11},
     ["spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to "
      "10"]),
    ("exclusive minimum", {"name": "ab", "ratio": 0},
     ["spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"]),
    ("exclusive maximum", {"name": "ab", "ratio": 1},
     ["spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"]),
    ("multipleOf", {"name": "ab", "ratio": 0.3},
     ["spec.ratio: Invalid value: 0.3: spec.ratio in body should be a multiple of 0.25"]),
    ("enum", {"name": "ab", "mode": "medium"},
     ['spec.mode: Unsupported value: "medium": supported values: "fast", "slow"']),
    ("int-or-string int", {"name": "ab", "port": 80}, []),
    ("int-or-string string", {"name": "ab", "port": "http"}, []),
    ("int-or-string bool", {"name": "ab", "port": True},
     ['spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: '
      '"boolean"']),
    ("nullable", {"name": "ab", "note": None}, []),
    ("null not nullable", {"name": "ab", "mode": None},
     ['spec.mode: Invalid value: "null": spec.mode in body must be of type string: "null"']),
    ("null int-or-string", {"name": "ab", "port": None},
     ['spec.port: Invalid value: "null": spec.port in body must be of type integer or string: '
      '"null"']),
    ("null preserved", {"name": "ab", "free": None}, [
        'spec.free: Invalid value: "null": spec.free in body must be of type object: "null"']),
    ("formats ok", {"name": "ab", "when": "2026-01-02T03:04:05Z", "day": "2026-01-02",
                    "id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "ip": "10.0.0.1",
                    "ip6": "::1", "net": "10.0.0.0/8", "host": "a.example.com",
                    "mail": "a@b.io", "blob": "aGk=", "small": 5}, []),
    ("date-time", {"name": "ab", "when": "yesterday"},
     ['spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: '
      '"yesterday"']),
    ("date-time without time", {"name": "ab", "when": "2026-01-02"},
     ['spec.when: Invalid value: "2026-01-02": spec.when in body must be of type date-time: '
      '"2026-01-02"']),
    ("date", {"name": "ab", "day": "2026-13-01"},
     ['spec.day: Invalid value: "2026-13-01": spec.day in body must be of type date: '
      '"2026-13-01"']),
    ("uuid", {"name": "ab", "id": "nope"},
     ['spec.id: Invalid value: "nope": spec.id in body must be of type uuid: "nope"']),
    ("ipv4", {"name": "ab", "ip": "300.1.1.1"},
     ['spec.ip: Invalid value: "300.1.1.1": spec.ip in body must be of type ipv4: "300.1.1.1"']),
    ("ipv6", {"name": "ab", "ip6": "1.2.3.4"},
     ['spec.ip6: Invalid value: "1.2.3.4": spec.ip6 in body must be of type ipv6: "1.2.3.4"']),
    ("cidr", {"name": "ab", "net": "10.0.0.1"},
     ['spec.net: Invalid value: "10.0.0.1": spec.net in body must be of type cidr: "10.0.0.1"']),
    ("hostname", {"name": "ab", "host": "A_B"},
     ['spec.host: Invalid value: "A_B": spec.host in body must be of type hostname: "A_B"']),
    ("email", {"name": "ab", "mail": "nobody"},
     ['spec.mail: Invalid value: "nobody": spec.mail in body must be of type email: "nobody"']),
    ("byte", {"name": "ab", "blob": "!!"},
     ['spec.blob: Invalid value: "!!": spec.blob in body must be of type byte: "!!"']),
    ("int32", {"name": "ab", "small": 2**40},
     ["spec.small: Invalid value: 1099511627776: spec.small in body must be of type int32"]),
    ("boolean", {"name": "ab", "on": "yes"},
     ['spec.on: Invalid value: "string": spec.on in body must be of type boolean: "string"']),
    ("set duplicate", {"name": "ab", "tags": ["a", "b", "a"]},
     ['spec.tags[2]: Duplicate value: "a"']),
    ("minItems", {"name": "ab", "tags": []},
     ["spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"]),
    ("maxItems", {"name": "ab", "tags": ["a", "b", "c", "d"]},
     ["spec.tags: Too many: 4: must have at most 3 items"]),
    ("map list duplicate", {"name": "ab", "ports": [{"name": "a"}, {"name": "a", "number": 1}]},
     ['spec.ports[1]: Duplicate value: {"name":"a"}']),
    ("map list item", {"name": "ab", "ports": [{"number": 1}]},
     ["spec.ports[0].name: Required value"]),
    ("additionalProperties", {"name": "ab", "labels": {"a": 1}},
     ['spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: '
      '"integer"']),
    ("maxProperties", {"name": "ab", "labels": {"a": "1", "b": "2", "c": "3"}},
     ["spec.labels: Too many: 3: must have at most 2 items"]),
    ("minProperties", {"name": "ab", "labels": {}},
     ["spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties"]),
    ("anyOf", {"name": "ab", "either": "c"},
     ['spec.either: Invalid value: "c": spec.either in body must match at least one schema in '
      "anyOf"]),
    ("anyOf ok", {"name": "ab", "either": "b"}, []),
    ("oneOf", {"name": "ab", "one": 6},
     ["spec.one: Invalid value: 6: spec.one in body must match exactly one schema in oneOf"]),
    ("oneOf ok", {"name": "ab", "one": 8}, []),
    ("allOf", {"name": "ab", "all": 0},
     ["spec.all: Invalid value: 0: spec.all in body should be greater than or equal to 1"]),
    ("not", {"name": "ab", "notx": "xy"},
     ['spec.notx: Invalid value: "xy": spec.notx in body should not match the schema in not']),
    ("object expected", {"name": "ab", "labels": ["a"]},
     ['spec.labels: Invalid value: "array": spec.labels in body must be of type object: "array"']),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validation(spec: dict[str, Any], expected: list[str]) -> None:
    assert [str(e) for e in validate(SCHEMA, _obj(**spec))] == expected


def test_validate_value_and_json_type() -> None:
    assert validate_value({"type": "integer"}, 3, "x") == []
    assert json_type({"a": 1}) == "object" and json_type(None) == "null"
    assert json_type(True) == "boolean" and json_type(1.5) == "number"


RULES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.min <= self.max", "message": "min must not exceed max"},
                {"rule": "self.ratio < 2.0",
                 "messageExpression": "'ratio is ' + string(self.ratio)"},
                {"rule": "!has(self.name) || self.name.lowerAscii() == self.name",
                 "fieldPath": ".name", "reason": "FieldValueForbidden",
                 "message": "name must be lower case"},
                {"rule": "self.max == oldSelf.max || self.max > oldSelf.max",
                 "message": "max may only grow"},
            ],
            "properties": {
                "min": {"type": "integer"},
                "max": {"type": "integer"},
                "ratio": {"type": "number", "default": 1},
                "name": {"type": "string"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"], "properties": {
                              "name": {"type": "string"},
                              "fixed": {"type": "string", "x-kubernetes-validations": [
                                  {"rule": "self == oldSelf", "message": "fixed is immutable"}]}}}},
                "tags": {"type": "array", "items": {"type": "string"},
                         "x-kubernetes-validations": [
                             {"rule": "self.all(t, t.startsWith('t-'))",
                              "message": "tags start with t-"}]},
                "data": {"type": "object", "additionalProperties": {"type": "string"},
                         "x-kubernetes-validations": [{"rule": "size(self) <= 2"}]},
            },
        },
    },
}  # fmt: skip


def _rules(spec: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    obj = apply_defaults(RULES, {"metadata": {"name": "n"}, "spec": spec})
    before = apply_defaults(RULES, {"metadata": {"name": "n"}, "spec": old}) if old else None
    return [str(e) for e in validate(RULES, obj, before)]


def test_cel_rules() -> None:
    assert _rules({"min": 1, "max": 2}) == []
    assert _rules({"min": 3, "max": 2}) == [
        'spec: Invalid value: "object": min must not exceed max'
    ]
    assert _rules({"min": 1, "max": 2, "ratio": 3}) == ['spec: Invalid value: "object": ratio is 3']
    assert _rules({"min": 1, "max": 2, "name": "Abc"}) == [
        "spec.name: Forbidden: name must be lower case"
    ]
    assert _rules({"min": 1, "max": 2, "tags": ["t-a", "b"]}) == [
        'spec.tags: Invalid value: "array": tags start with t-'
    ]
    assert _rules({"min": 1, "max": 2, "data": {"a": "1", "b": "2", "c": "3"}}) == [
        'spec.data: Invalid value: "object": failed rule: size(self) <= 2'
    ]


def test_cel_runtime_errors_are_invalid_values() -> None:
    (err,) = _rules({"max": 2})
    assert err.startswith('spec: Invalid value: "object": ')
    assert "evaluating rule: self.min <= self.max" in err


def test_transition_rules_compare_with_the_old_object() -> None:
    assert _rules({"min": 1, "max": 5}, old={"min": 1, "max": 3}) == []
    assert _rules({"min": 1, "max": 2}, old={"min": 1, "max": 3}) == [
        'spec: Invalid value: "object": max may only grow'
    ]
    ports_old = {"min": 1, "max": 2, "ports": [{"name": "a", "fixed": "x"}]}
    ports_new = {"min": 1, "max": 2, "ports": [{"name": "b", "fixed": "y"},
                                               {"name": "a", "fixed": "z"}]}  # fmt: skip
    assert _rules(ports_new, old=ports_old) == [
        'spec.ports[1].fixed: Invalid value: "string": fixed is immutable'
    ]


def _update(spec: dict[str, Any], old: dict[str, Any], schema: Any = SCHEMA) -> list[str]:
    return [str(e) for e in validate(schema, _obj(**spec), _obj(**old))]


def test_an_update_judges_what_it_changes() -> None:
    """Values stored as written were judged then (a schema made stricter since does not
    refuse writes that leave them alone); what a write adds or changes is judged."""
    old = {"name": "TOO-LONG", "replicas": 50, "tags": ["a", "a"], "ports": [{"name": "p"}]}
    assert _update({**old, "mode": "fast"}, old) == []
    assert _update({**old, "replicas": 60}, old) == [
        "spec.replicas: Invalid value: 60: spec.replicas in body should be less than or equal to 10"
    ]
    # The same value but not the same type is a change: 1 stored, true written.
    assert _update({"name": "ab", "replicas": True}, {"name": "ab", "replicas": 1}) == [
        'spec.replicas: Invalid value: "boolean": spec.replicas in body must be of type '
        'integer: "boolean"'
    ]
    # Map-list items are matched by their keys: an item left alone is not judged again,
    # a new one is.
    ports = {"name": "ab", "ports": [{"name": "p", "number": "x"}]}
    added = {"name": "ab", "ports": [{"name": "p", "number": "x"}, {"name": "q", "number": "y"}]}
    assert _update(ports, ports) == []
    assert _update(added, ports) == [
        'spec.ports[1].number: Invalid value: "string": spec.ports[1].number in body must be '
        'of type integer: "string"'
    ]
    # A create has nothing stored: everything is judged.
    assert validate(SCHEMA, _obj(**old)) != []
    # What is known of the schema's transition rules is kept per schema node, not per call.
    from k3os.apiserver import crvalues

    known = len(crvalues._TRANSITIONS)
    for _ in range(20):
        _update({**old, "mode": "slow"}, old)
    assert len(crvalues._TRANSITIONS) == known


def test_a_transition_rule_is_judged_on_unchanged_values_too() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "count": {"type": "integer", "x-kubernetes-validations": [
            {"rule": "self > oldSelf", "message": "count must grow"}]},
        "note": {"type": "string", "maxLength": 1}}}}}  # fmt: skip
    old = {"count": 5, "note": "too long"}
    assert _update({"count": 5, "note": "too long"}, old, schema) == [
        'spec.count: Invalid value: "integer": count must grow'
    ]
    assert _update({"count": 6, "note": "too long"}, old, schema) == []


def test_compile_rule_errors() -> None:
    with pytest.raises(RuleError, match="rule: Required value"):
        compile_rule({"rule": " "})
    with pytest.raises(RuleError, match="messageExpression compilation failed"):
        compile_rule({"rule": "true", "messageExpression": "'a' +"})
    with pytest.raises(RuleError, match="reason: Unsupported value"):
        compile_rule({"rule": "true", "reason": "Nope"})


def test_evaluate_rule_results_and_reasons() -> None:
    not_bool = compile_rule({"rule": "self + 1"})
    err = evaluate_rule(not_bool, 1, "spec.n")
    assert err is not None and "rule did not evaluate to a boolean" in str(err)
    dup = compile_rule({"rule": "false", "reason": "FieldValueDuplicate", "message": "twice"})
    assert str(evaluate_rule(dup, "a", "spec.a")) == 'spec.a: Duplicate value: "string": twice'
    req = compile_rule({"rule": "false", "reason": "FieldValueRequired", "message": "need it"})
    assert str(evaluate_rule(req, {}, "spec")) == "spec: Required value: need it"
    bad_message = compile_rule({"rule": "false", "messageExpression": "self.nope", "message": "m"})
    assert str(evaluate_rule(bad_message, {}, "spec")) == 'spec: Invalid value: "object": m'
    helpers = compile_rule(
        {"rule": "self.upperAscii() == 'AB' && self.trim() == 'ab' && "
         "self.split('b')[0] == 'a' && ['a', 'b'].join('-') == 'a-b' && "
         "self.replace('a', 'c') == 'cb' && self.indexOf('b') == 1 && "
         "self.lastIndexOf('a') == 0"}
    )  # fmt: skip
    assert evaluate_rule(helpers, "ab", "x") is None
    transition = compile_rule({"rule": "self == oldSelf"})
    assert transition.transition and evaluate_rule(transition, 1, "x") is None
    assert json_type(None) == "null" and json_type(1.5) == "number"
    assert json_type(True) == "boolean" and json_type(3) == "integer"


_PLAIN_SCHEMAS = [
    {"type": "string"},
    {"type": "string", "description": "a name"},
    {"type": "boolean", "nullable": True, "default": False},
    {"type": "string", "maxLength": 2},  # these ask more: the full walk
    {"type": "string", "enum": ["a"]},
    {"type": "string", "x-kubernetes-validations": [{"rule": "self != 'b'"}]},
    {"type": "integer"},
    {},  # no type: any value passes, in the quick check as in the walk
    {"description": "anything"},
]


@given(
    schema=st.sampled_from(_PLAIN_SCHEMAS),
    value=st.one_of(
        st.text(alphabet="ab", max_size=3),
        st.booleans(),
        st.integers(-2, 2),
        st.none(),
        st.lists(st.just("a"), max_size=1),
        st.dictionaries(st.just("k"), st.just(1)),
    ),
)
def test_plain_scalars_are_judged_as_the_full_walk_judges_them(
    schema: dict[str, Any], value: Any
) -> None:
    from k3os.apiserver import crvalues

    root = {"type": "object", "properties": {"items": {"type": "array", "items": schema}}}
    obj = {"items": [value, value]}
    quick = validate(root, obj)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(crvalues, "_PLAIN_KEYS", frozenset())
        assert validate(root, obj) == quick
