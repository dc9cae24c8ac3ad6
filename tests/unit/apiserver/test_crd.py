"""CRD objects as data: validation (one case per rule), defaults, the resource types a
CRD adds, name conflicts, status conditions and version ordering."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from k3os.apiserver import crd
from k3os.apiserver.registry import BUILTINS

SCHEMA = {"type": "object", "properties": {"spec": {"type": "object"}}}


def _crd(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"],
                      "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": True, "storage": True,
                 "schema": {"openAPIV3Schema": SCHEMA}},
            ],
        },
    }  # fmt: skip
    for path, value in changes.items():
        target = obj
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is None:
            target.pop(last, None)
        else:
            target[last] = value
    crd.default_crd(obj)
    return obj


V = "spec.versions[0]"
CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("valid", {}, []),
    ("name", {"metadata__name": "w.example.com"},
     ['metadata.name: Invalid value: "w.example.com": must be spec.names.plural+"."+spec.group']),
    ("group missing", {"spec__group": None, "metadata__name": "widgets.None"},
     ["spec.group: Required value"]),
    ("group one word", {"spec__group": "example", "metadata__name": "widgets.example"},
     ['spec.group: Invalid value: "example": should be a domain with at least one dot']),
    ("group not dns", {"spec__group": "Ex_ample.com", "metadata__name": "widgets.Ex_ample.com"},
     ['spec.group: Invalid value: "Ex_ample.com": a lowercase RFC 1123 subdomain']),
    ("plural", {"spec__names__plural": "Widgets", "metadata__name": "Widgets.example.com"},
     ['spec.names.plural: Invalid value: "Widgets": a lowercase RFC 1123 label must consist of '
      "lower case alphanumeric characters or '-', and must start and end with an alphanumeric "
      "character"]),
    ("plural missing", {"spec__names__plural": None, "metadata__name": "None.example.com"},
     ["spec.names.plural: Required value"]),
    ("plural not a string", {"spec__names__plural": 5, "metadata__name": "5.example.com"},
     ["spec.names.plural: Invalid value: 5: must be a string"]),
    ("kind missing", {"spec__names__kind": None, "spec__names__listKind": "WList",
                      "spec__names__singular": "w"},
     ["spec.names.kind: Required value"]),
    ("kind", {"spec__names__kind": "Wid-get!", "spec__names__singular": "w",
              "spec__names__listKind": "WList"},
     ['spec.names.kind: Invalid value: "Wid-get!": a DNS-1035 label must consist of lower case '
      "alphanumeric characters or '-', start with an alphabetic character, and end with an "
      "alphanumeric character"]),
    ("listKind same as kind", {"spec__names__listKind": "Widget"},
     ['spec.names.listKind: Invalid value: "Widget": kind and listKind may not be the same']),
    ("short name", {"spec__names__shortNames": ["ok", "No"]},
     ['spec.names.shortNames[1]: Invalid value: "No": a lowercase RFC 1123 label must consist '
      "of lower case alphanumeric characters or '-', and must start and end with an "
      "alphanumeric character"]),
    ("scope", {"spec__scope": "Global"},
     ['spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"']),
    ("scope missing", {"spec__scope": None}, ["spec.scope: Required value"]),
    ("no versions", {"spec__versions": []},
     ["spec.versions: Required value: must have exactly one version marked as storage version"]),
    ("two storage versions", {"spec__versions": [
        {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA}},
        {"name": "v2", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA}}]},
     ['spec.versions: Invalid value: ["v1","v2"]: must have exactly one version marked as '
      "storage version"]),
    ("nothing served", {"spec__versions__0__served": False},
     ['spec.versions: Invalid value: ["v1"]: must have at least one version marked as served']),
    ("duplicate version", {"spec__versions": [
        {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA}},
        {"name": "v1", "served": True, "storage": False, "schema": {"openAPIV3Schema": SCHEMA}}]},
     ['spec.versions[1].name: Duplicate value: "v1"']),
    ("version name", {"spec__versions__0__name": "V1"},
     [f'{V}.name: Invalid value: "V1": a DNS-1035 label must consist of lower case alphanumeric '
      "characters or '-', start with an alphabetic character, and end with an alphanumeric "
      "character"]),
    ("version name missing", {"spec__versions__0__name": None}, [f"{V}.name: Required value"]),
    ("schema missing", {"spec__versions__0__schema": None},
     [f"{V}.schema.openAPIV3Schema: Required value: schemas are required"]),
    ("schema not structural", {"spec__versions__0__schema": {"openAPIV3Schema": {"type": "array",
                                                                                  "items": {}}}},
     [f'{V}.schema.openAPIV3Schema.type: Invalid value: "array": must be object at the root',
      f"{V}.schema.openAPIV3Schema.items.type: Required value: must not be empty for specified "
      "array items"]),
    ("webhook conversion", {"spec__conversion": {"strategy": "Webhook"}},
     ['spec.conversion.strategy: Unsupported value: "Webhook": supported values: "None" (this '
      "server has no conversion webhooks; served versions must differ in apiVersion only)"]),
    ("scale paths", {"spec__versions__0__subresources": {"scale": {
        "specReplicasPath": "spec.replicas", "labelSelectorPath": ".metadata.x"}}},
     [f'{V}.subresources.scale.specReplicasPath: Invalid value: "spec.replicas": should be a '
      "json path under .spec",
      f"{V}.subresources.scale.statusReplicasPath: Required value",
      f'{V}.subresources.scale.labelSelectorPath: Invalid value: ".metadata.x": should be a '
      "json path under either .spec or .status"]),
    ("scale not an object", {"spec__versions__0__subresources": {"scale": 1}},
     [f"{V}.subresources.scale: Invalid value: 1: must be an object"]),
    ("printer columns", {"spec__versions__0__additionalPrinterColumns": [
        {"name": "A", "type": "string", "jsonPath": ".spec.a"},
        {"type": "text", "jsonPath": ".spec[", "name": "B"},
        {},
        "x"]},
     [f'{V}.additionalPrinterColumns[1].type: Unsupported value: "text": supported values: '
      '"integer", "number", "string", "boolean", "date"',
      f'{V}.additionalPrinterColumns[1].jsonPath: Invalid value: ".spec[": jsonPath \'.spec[\' '
      "at 5: unterminated '['",
      f"{V}.additionalPrinterColumns[2].name: Required value",
      f"{V}.additionalPrinterColumns[2].type: Required value",
      f"{V}.additionalPrinterColumns[2].jsonPath: Required value",
      f'{V}.additionalPrinterColumns[3]: Invalid value: "x": must be an object']),
    ("preserveUnknownFields", {"spec__preserveUnknownFields": True},
     ["spec.preserveUnknownFields: Invalid value: true: must be false in "
      "apiextensions.k8s.io/v1"]),
    ("printer columns not a list", {"spec__versions__0__additionalPrinterColumns": {}},
     [f"{V}.additionalPrinterColumns: Invalid value: {{}}: must be a list"]),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validate_crd(changes: dict[str, Any], expected: list[str]) -> None:
    assert [str(e) for e in crd.validate_crd(_crd(**changes))] == expected


def test_defaults() -> None:
    obj = _crd()
    names = obj["spec"]["names"]
    assert names["singular"] == "widget" and names["listKind"] == "WidgetList"
    assert obj["spec"]["conversion"] == {"strategy": "None"}
    odd: dict[str, Any] = {"spec": "x"}
    crd.default_crd(odd)
    assert odd == {"spec": "x"}


def test_scope_is_immutable() -> None:
    old = _crd()
    assert crd.validate_crd_update(_crd(), old) == []
    errors = crd.validate_crd_update(_crd(spec__scope="Cluster"), old)
    assert [str(e) for e in errors] == ['spec.scope: Invalid value: "Cluster": field is immutable']


def test_resource_types_per_served_version_preferred_first() -> None:
    obj = _crd(spec__versions=[
        {"name": "v1beta1", "served": True, "storage": False,
         "schema": {"openAPIV3Schema": SCHEMA}},
        {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA},
         "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                  "statusReplicasPath": ".status.replicas",
                                                  "labelSelectorPath": ".status.selector"}},
         "additionalPrinterColumns": [{"name": "N", "type": "integer", "jsonPath": ".spec.n"}]},
        {"name": "v1alpha1", "served": False, "storage": False,
         "schema": {"openAPIV3Schema": SCHEMA}},
    ])  # fmt: skip
    v1, beta = crd.resource_types(obj)
    assert (v1.version, beta.version) == ("v1", "v1beta1")
    assert v1.definition == "com.example.v1.Widget" and v1.namespaced
    assert v1.key("ns", "a") == "/registry/example.com/widgets/ns/a" == beta.key("ns", "a")
    assert v1.short_names == ("wd",) and v1.categories == ("all",) and v1.has_generation
    assert [s.name for s in v1.subresources] == ["status", "scale"]
    assert v1.subresource("scale").group == "autoscaling"  # type: ignore[union-attr]
    assert v1.custom.storage_version == "v1" == beta.custom.storage_version
    assert v1.custom.scale == crd.Scale(".spec.replicas", ".status.replicas", ".status.selector")
    assert [c["name"] for c in v1.custom.printer.columns] == ["Name", "N"]
    assert beta.subresources == () and beta.custom.scale is None


def test_version_priority() -> None:
    names = ["v1", "foo", "v2beta1", "v1alpha2", "v2", "v1beta1", "v10", "bar"]
    assert sorted(names, key=crd.version_priority) == [
        "v10", "v2", "v1", "v2beta1", "v1beta1", "v1alpha2", "bar", "foo"
    ]  # fmt: skip


def test_name_conflicts() -> None:
    mine = crd.resource_types(_crd())
    assert crd.name_conflicts(_crd(), [*BUILTINS, *mine]) == ""
    other = copy.deepcopy(_crd())
    other["metadata"]["name"] = "gadgets.example.com"
    other["spec"]["names"] = {"plural": "gadgets", "kind": "Widget"}
    assert crd.name_conflicts(other, mine) == '"Widget" is already in use'
    other["spec"]["names"] = {"plural": "widgets", "kind": "Gadget"}
    assert crd.name_conflicts(other, mine) == '"widgets" is already in use'
    other["spec"]["names"] = {"plural": "gadgets", "kind": "Gadget", "shortNames": ["wd"]}
    assert crd.name_conflicts(other, mine) == '"wd" is already in use'
    leases = _crd(spec__group="coordination.k8s.io", metadata__name="leases.coordination.k8s.io",
                  spec__names={"plural": "leases", "kind": "Lease2"})  # fmt: skip
    assert crd.name_conflicts(leases, BUILTINS) == '"leases" is already in use'


def test_conditions() -> None:
    obj = _crd()
    status = crd.conditions(obj, "", "2026-01-01T00:00:00Z")
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("NamesAccepted", "True", "NoConflicts"),
        ("Established", "True", "InitialNamesAccepted"),
    ]
    assert status["acceptedNames"] == {
        "plural": "widgets", "singular": "widget", "shortNames": ["wd"], "kind": "Widget",
        "listKind": "WidgetList", "categories": ["all"],
    }  # fmt: skip
    assert status["storedVersions"] == ["v1"]
    obj["status"] = status
    later = crd.conditions(obj, "", "2026-02-02T00:00:00Z", terminating="going")
    assert later["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert later["conditions"][2]["type"] == "Terminating"
    clash = crd.conditions(_crd(), '"wd" is already in use', "2026-01-01T00:00:00Z")
    assert [(c["type"], c["status"]) for c in clash["conditions"]] == [
        ("NamesAccepted", "False"),
        ("Established", "False"),
    ]
    assert clash["acceptedNames"] == {"plural": "", "kind": ""}


def test_definition_name() -> None:
    assert crd.definition_name("stable.example.com", "v1", "CronTab") == (
        "com.example.stable.v1.CronTab"
    )
