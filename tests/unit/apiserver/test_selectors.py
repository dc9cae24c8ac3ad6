"""Label and field selectors: the query syntax, LabelSelector objects, per-kind fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k3os.apiserver import selectors as s
from k3os.apiserver.errors import BadRequest

pytestmark = pytest.mark.unit

LABELS = {"app": "web", "tier": "front", "env": "", "n": "7"}


@pytest.mark.parametrize(
    ("text", "matches", "canonical"),
    [
        ("", True, ""),
        ("   ", True, ""),
        ("app=web", True, "app=web"),
        ("app==web", True, "app=web"),
        ("app = web", True, "app=web"),
        ("app=db", False, "app=db"),
        ("app!=db", True, "app!=db"),
        ("app!=web", False, "app!=web"),
        ("missing!=x", True, "missing!=x"),
        ("missing=x", False, "missing=x"),
        ("env=", True, "env="),
        ("app=", False, "app="),
        ("app in (web,db)", True, "app in (db,web)"),
        ("app in (db)", False, "app in (db)"),
        ("missing in (a)", False, "missing in (a)"),
        ("app notin (db)", True, "app notin (db)"),
        ("app notin (web, db)", False, "app notin (db,web)"),
        ("missing notin (a)", True, "missing notin (a)"),
        ("app", True, "app"),
        ("missing", False, "missing"),
        ("!missing", True, "!missing"),
        ("! app", False, "!app"),
        ("app=web,tier=front", True, "app=web,tier=front"),
        ("tier=front,app=web", True, "app=web,tier=front"),
        ("app=web,tier=back", False, "app=web,tier=back"),
        ("env in (,x)", True, "env in (,x)"),
        ("env in (x,)", True, "env in (,x)"),
        ("n>5", True, "n>5"),
        ("n<5", False, "n<5"),
        ("n>-1", True, "n>-1"),
        ("app>1", False, "app>1"),
        ("missing<3", False, "missing<3"),
        ("example.com/role=edge", False, "example.com/role=edge"),
        ("x in (in,notin)", False, "x in (in,notin)"),
        ("x=in", False, "x=in"),
    ],
)
def test_label_selector_query(text: str, matches: bool, canonical: str) -> None:
    selector = s.parse_label_selector(text)
    assert selector.matches(LABELS) is matches
    assert str(selector) == canonical
    # The canonical form parses back to the same selector.
    assert s.parse_label_selector(canonical) == selector


def test_label_selector_none_and_no_labels() -> None:
    assert s.parse_label_selector(None).empty
    assert s.parse_label_selector("!a").matches(None)
    assert not s.parse_label_selector("a").matches(None)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("app in web", "found 'web' at position 7, expected: '('"),
        ("app in (web", "found 'end of input'"),
        ("app in ()", "for 'in' the set of values can't be empty"),
        ("app notin ()", "for 'notin' the set of values can't be empty"),
        ("app in (a b)", "expected: a value, ',' or ')'"),
        ("app=web db", "expected: ',' or end of input"),
        ("app==(x)", "expected: a label value"),
        ("=web", "expected: a label key or '!'"),
        ("!", "a label key after '!'"),
        ("!=x", "expected: a label key or '!'"),
        ("app,", "expected: a label key or '!'"),
        ("app (x)", "expected: '=', '==', '!=', 'in', 'notin'"),
        ("n>x", "for '>', the value must be an integer, got 'x'"),
        ("-bad=x", 'key: Invalid value: "-bad"'),
        ("a/b/c=x", "prefix part a lowercase RFC 1123 subdomain"),
        ("/b=x", "prefix part must be non-empty"),
        ("Example.com/b=x", "prefix part a lowercase RFC 1123"),
        ("a" * 254 + "/b=x", "prefix part must be no more than 253 characters"),
        ("p/=x", "name part must be non-empty"),
        ("k" * 64 + "=x", "name part must be no more than 63 characters"),
        ("app=-x", 'values[0][app]: Invalid value: "-x"'),
        ("app=" + "v" * 64, "must be no more than 63 characters"),
        ("app in (ok,-no)", 'Invalid value: "-no"'),
    ],
)
def test_label_selector_errors(text: str, fragment: str) -> None:
    with pytest.raises(s.SelectorError) as info:
        s.parse_label_selector(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, BadRequest)
    assert info.value.to_status()["code"] == 400


@pytest.mark.parametrize(
    ("obj", "matches"),
    [
        ({}, True),
        ({"matchLabels": {"app": "web"}}, True),
        ({"matchLabels": {"app": "db"}}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
        (
            {
                "matchLabels": {"tier": "front"},
                "matchExpressions": [{"key": "zone", "operator": "DoesNotExist", "values": []}],
            },
            True,
        ),
        ({"matchLabels": None, "matchExpressions": None}, True),
    ],
)
def test_label_selector_object(obj: dict[str, Any], matches: bool) -> None:
    assert s.validate_label_selector(obj) == []
    assert s.label_selector_from_object(obj).matches(LABELS) is matches


def test_null_label_selector_object_matches_nothing() -> None:
    nothing = s.label_selector_from_object(None)
    assert not nothing.matches({})
    assert not nothing.empty
    assert s.validate_label_selector(None) == []
    assert s.label_selector_from_object({}).empty


def test_label_selector_object_string_form() -> None:
    sel = s.label_selector_from_object(
        {
            "matchLabels": {"b": "1"},
            "matchExpressions": [{"key": "a", "operator": "In", "values": ["y", "x", "x"]}],
        }
    )
    assert str(sel) == "a in (x,y),b=1"


@pytest.mark.parametrize(
    ("obj", "errors"),
    [
        ("x", ['spec.selector: Invalid value: "x": expected an object']),
        (
            {"matchLabels": ["a"]},
            ['spec.selector.matchLabels: Invalid value: ["a"]: expected a map'],
        ),
        (
            {"matchLabels": {"-a": "b"}},
            ['spec.selector.matchLabels: Invalid value: "-a": name part must consist'],
        ),
        (
            {"matchLabels": {"a": "-b"}},
            ['spec.selector.matchLabels: Invalid value: "-b": a valid label must be'],
        ),
        (
            {"matchLabels": {"a": 1}},
            ["spec.selector.matchLabels[a]: Invalid value: 1: expected a string"],
        ),
        (
            {"matchExpressions": {"key": "a"}},
            ["spec.selector.matchExpressions: Invalid value: "],
        ),
        (
            {"matchExpressions": ["a"]},
            ['spec.selector.matchExpressions[0]: Invalid value: "a": expected an object'],
        ),
        (
            {"matchExpressions": [{"operator": "Exists"}]},
            ["spec.selector.matchExpressions[0].key: Required value"],
        ),
        (
            {"matchExpressions": [{"key": "a b", "operator": "Exists"}]},
            ['spec.selector.matchExpressions[0].key: Invalid value: "a b"'],
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            [
                'spec.selector.matchExpressions[0].operator: Unsupported value: "Gt": '
                'supported values: "In", "NotIn", "Exists", "DoesNotExist"'
            ],
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            [
                "spec.selector.matchExpressions[0].values: Required value: must be specified "
                "when `operator` is 'In' or 'NotIn'"
            ],
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            [
                "spec.selector.matchExpressions[0].values: Forbidden: may not be specified "
                "when `operator` is 'Exists' or 'DoesNotExist'"
            ],
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]},
            ["spec.selector.matchExpressions[0].values: Invalid value: [1]: expected a list"],
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "-no"]}]},
            ['spec.selector.matchExpressions[0].values[1]: Invalid value: "-no"'],
        ),
    ],
)
def test_label_selector_object_errors(obj: Any, errors: list[str]) -> None:
    found = [str(e) for e in s.validate_label_selector(obj, "spec.selector")]
    assert len(found) == len(errors), found
    for text, expected in zip(found, errors, strict=True):
        assert text.startswith(expected), text
    with pytest.raises(s.SelectorError, match=r"invalid label selector: spec\.selector"):
        s.label_selector_from_object(obj, "spec.selector")


_label_keys = st.sampled_from(["a", "b", "example.com/c"])
_label_values = st.sampled_from(["", "x", "y", "z1"])


@given(
    labels=st.dictionaries(_label_keys, _label_values),
    key=_label_keys,
    values=st.lists(st.sampled_from(["x", "y", "z1"]), min_size=1, max_size=3),
)
def test_in_and_notin_are_complements(labels: dict[str, str], key: str, values: list[str]) -> None:
    body = ",".join(values)
    inside = s.parse_label_selector(f"{key} in ({body})").matches(labels)
    outside = s.parse_label_selector(f"{key} notin ({body})").matches(labels)
    assert inside != outside
    exists = s.parse_label_selector(key).matches(labels)
    assert exists != s.parse_label_selector(f"!{key}").matches(labels)


# --- field selectors ---------------------------------------------------------------------

POD = {
    "metadata": {"name": "p1", "namespace": "ns"},
    "spec": {"nodeName": "n1", "hostNetwork": True, "restartPolicy": "Always"},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),
        ("metadata.name=p1", True),
        ("metadata.name==p1", True),
        ("metadata.name!=p1", False),
        ("metadata.name=p2", False),
        ("metadata.namespace=ns,spec.nodeName=n1", True),
        ("spec.nodeName=", False),
        ("spec.nodeName!=", True),
        ("status.phase!=Failed,status.phase!=Succeeded", True),
        ("spec.hostNetwork=true", True),
        ("spec.schedulerName=", True),
        ("status.podIP=", True),
    ],
)
def test_pod_field_selector(text: str, matches: bool) -> None:
    fields = s.selectable_fields("", "pods")
    selector = s.check_field_selector(s.parse_field_selector(text), fields)
    assert selector.matches(s.field_set(POD, fields)) is matches


def test_field_selector_escapes_and_string_form() -> None:
    sel = s.parse_field_selector(r"metadata.name=a\,b\=c\\d,type!=x")
    assert sel.requirements[0].value == "a,b=c\\d"
    assert str(sel) == r"metadata.name=a\,b\=c\\d,type!=x"
    assert s.parse_field_selector(str(sel)) == sel
    assert sel.fields() == {"metadata.name", "type"}
    assert sel.exact("metadata.name") == "a,b=c\\d"
    assert sel.exact("type") is None
    assert sel.exact("other") is None
    assert s.parse_field_selector(None).empty
    assert s.parse_field_selector("  ").empty
    assert not sel.empty


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b,c", "can't understand 'c'"),
        ("=x", "empty field"),
        ("a=b=c", "unescaped '=' in value"),
        ("a=b\\", "invalid escape sequence"),
        ("a=b\\x", "invalid escape sequence"),
    ],
)
def test_field_selector_syntax_errors(text: str, fragment: str) -> None:
    with pytest.raises(s.SelectorError) as info:
        s.parse_field_selector(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("group", "resource", "good", "bad"),
    [
        ("", "pods", ["spec.nodeName", "status.phase", "metadata.namespace"], ["spec.foo"]),
        ("", "nodes", ["metadata.name", "spec.unschedulable"], ["metadata.namespace"]),
        ("", "namespaces", ["status.phase"], ["spec.finalizers"]),
        ("", "secrets", ["type"], ["data"]),
        ("", "configmaps", ["metadata.name", "metadata.namespace"], ["data"]),
        ("", "serviceaccounts", ["metadata.name"], ["secrets"]),
        (
            "",
            "events",
            ["involvedObject.kind", "involvedObject.uid", "reason", "type", "source"],
            ["message"],
        ),
        (
            "events.k8s.io",
            "events",
            ["regarding.name", "reportingController"],
            ["involvedObject.name"],
        ),
        ("coordination.k8s.io", "leases", ["metadata.namespace"], ["spec.holderIdentity"]),
        ("policy", "poddisruptionbudgets", ["metadata.name"], ["spec.minAvailable"]),
        ("rbac.authorization.k8s.io", "roles", ["metadata.namespace"], ["rules"]),
        ("rbac.authorization.k8s.io", "clusterroles", ["metadata.name"], ["metadata.namespace"]),
        ("rbac.authorization.k8s.io", "clusterrolebindings", ["metadata.name"], ["roleRef.name"]),
    ],
)
def test_selectable_fields_per_kind(
    group: str, resource: str, good: list[str], bad: list[str]
) -> None:
    fields = s.selectable_fields(group, resource)
    for name in good:
        s.check_field_selector(s.parse_field_selector(f"{name}=x"), fields)
    for name in bad:
        with pytest.raises(s.SelectorError) as info:
            s.check_field_selector(s.parse_field_selector(f"{name}=x"), fields)
        assert info.value.message == f"field label not supported: {name}"
        assert info.value.code == 400


def test_node_and_event_field_values() -> None:
    node_fields = s.selectable_fields("", "nodes")
    node = {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}}
    assert s.field_set(node, node_fields) == {"metadata.name": "n1", "spec.unschedulable": "true"}
    # An unset boolean reads as "false", as upstream prints the Go zero value.
    assert s.field_set({"metadata": {"name": "n2"}}, node_fields)["spec.unschedulable"] == "false"
    pod_fields = s.selectable_fields("", "pods")
    assert s.field_set({"spec": {}}, pod_fields)["spec.hostNetwork"] == "false"
    assert s.field_set({"spec": {}}, pod_fields)["spec.nodeName"] == ""
    event_fields = s.selectable_fields("", "events")
    event = {
        "metadata": {"name": "e", "namespace": "ns"},
        "involvedObject": {"kind": "Pod", "name": "p1", "uid": "u1", "namespace": "ns"},
        "source": {"component": "kubelet"},
        "reason": "Started",
        "type": "Normal",
    }
    values = s.field_set(event, event_fields)
    assert values["involvedObject.uid"] == "u1"
    assert values["source"] == "kubelet"
    sel = s.parse_field_selector(
        "involvedObject.name=p1,involvedObject.namespace=ns,involvedObject.kind=Pod,"
        "involvedObject.uid=u1"
    )
    assert sel.matches(values)
    # A scalar where an object was expected reads as empty, not as an error.
    assert s.field_set({"metadata": "odd"}, node_fields)["metadata.name"] == ""


def test_custom_resource_fields() -> None:
    namespaced = s.selectable_fields("example.com", "widgets", extra=[".spec.color"])
    assert set(namespaced) == {"metadata.name", "metadata.namespace", "spec.color"}
    obj = {"metadata": {"name": "w"}, "spec": {"color": "red", "size": 3}}
    assert s.field_set(obj, namespaced)["spec.color"] == "red"
    cluster = s.selectable_fields("example.com", "globals", namespaced=False)
    assert set(cluster) == {"metadata.name"}
    crds = s.selectable_fields("apiextensions.k8s.io", "customresourcedefinitions")
    assert set(crds) == {"metadata.name"}
    defaulted = s.selectable_fields("example.com", "widgets")
    assert "metadata.namespace" in defaulted


_requirements = st.builds(
    lambda key, op, values: s.LabelRequirement(
        key,
        op,
        tuple(sorted(set(values)))
        if op in ("in", "notin")
        else ((values[0],) if op in ("=", "!=") else ()),
    ),
    _label_keys,
    st.sampled_from(["=", "!=", "in", "notin", "exists", "!"]),
    st.lists(st.sampled_from(["x", "y", "z1"]), min_size=1, max_size=3),
)


@given(reqs=st.lists(_requirements, max_size=4), labels=st.dictionaries(_label_keys, _label_values))
def test_label_selector_string_round_trip(
    reqs: list[s.LabelRequirement], labels: dict[str, str]
) -> None:
    selector = s.LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))
    parsed = s.parse_label_selector(str(selector))
    assert parsed.matches(labels) == selector.matches(labels)
    assert str(parsed) == str(selector)
