"""Label selectors, tolerations and conditions behave as Kubernetes defines them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from k3os.apis import (
    Condition,
    LabelSelector,
    ObjectMeta,
    Toleration,
    find_condition,
    set_condition,
)

K3OS_SELECTOR = {
    "matchExpressions": [
        {"key": "k3os.io/mode", "operator": "Exists"},
        {"key": "k3os.io/mode", "operator": "NotIn", "values": ["live"]},
        {"key": "k3os.io/upgrade", "operator": "Exists"},
        {"key": "k3os.io/upgrade", "operator": "NotIn", "values": ["disabled", "false"]},
    ]
}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({}, {"a": "b"}, True),
        ({"matchLabels": {"a": "b"}}, {"a": "b", "c": "d"}, True),
        ({"matchLabels": {"a": "b"}}, {"a": "x"}, False),
        ({"matchLabels": {"a": "b"}}, {}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True),
        (K3OS_SELECTOR, {"k3os.io/mode": "local", "k3os.io/upgrade": "latest"}, True),
        (K3OS_SELECTOR, {"k3os.io/mode": "live", "k3os.io/upgrade": "latest"}, False),
        (K3OS_SELECTOR, {"k3os.io/mode": "local", "k3os.io/upgrade": "disabled"}, False),
        (K3OS_SELECTOR, {"k3os.io/mode": "local", "k3os.io/upgrade": "false"}, False),
        (K3OS_SELECTOR, {"k3os.io/mode": "local"}, False),
    ],
)
def test_label_selector(
    selector: dict[str, object], labels: dict[str, str], expected: bool
) -> None:
    assert LabelSelector.model_validate(selector).matches(labels) is expected


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        ({"key": "a", "operator": "In"}, "needs a non-empty values list"),
        ({"key": "a", "operator": "Exists", "values": ["x"]}, "takes no values"),
        (
            {"key": "a", "operator": "Gt", "values": ["1"]},
            "In', 'NotIn', 'Exists' or 'DoesNotExist",
        ),
        ({"key": "", "operator": "Exists"}, "at least 1 character"),
    ],
)
def test_bad_requirements_say_what_was_expected(
    requirement: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        LabelSelector.model_validate({"matchExpressions": [requirement]})


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="matchLabel"):
        LabelSelector.model_validate({"matchLabel": {"a": "b"}})


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        ({"operator": "Exists"}, ("any", "x", "NoExecute"), True),
        ({"key": "k", "operator": "Exists"}, ("k", "x", "NoSchedule"), True),
        ({"key": "k", "operator": "Exists"}, ("other", "x", "NoSchedule"), False),
        ({"key": "k", "value": "v"}, ("k", "v", "NoSchedule"), True),
        ({"key": "k", "value": "v"}, ("k", "w", "NoSchedule"), False),
        ({"key": "k", "value": "v", "effect": "NoExecute"}, ("k", "v", "NoSchedule"), False),
        ({"key": "k", "value": "v", "effect": ""}, ("k", "v", "NoExecute"), True),
        ({"key": "k", "operator": "Equal"}, ("k", "", "NoSchedule"), True),
        ({"operator": "Equal"}, ("k", "", "NoSchedule"), False),
    ],
)
def test_toleration(
    toleration: dict[str, str], taint: tuple[str, str, str], expected: bool
) -> None:
    assert Toleration.model_validate(toleration).tolerates(*taint) is expected


def test_set_condition_keeps_transition_time_while_status_holds() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    t1 = datetime(2026, 1, 2, tzinfo=UTC)
    other = Condition(type="Other", status="True", last_transition_time=t0)
    first = set_condition([other], Condition(type="Complete", status="False", reason="A"), t0)
    same = set_condition(first, Condition(type="Complete", status="False", reason="B"), t1)
    flipped = set_condition(same, Condition(type="Complete", status="True"), t1)
    assert find_condition(same, "Complete") == Condition(
        type="Complete", status="False", reason="B", last_transition_time=t0
    )
    found = find_condition(flipped, "Complete")
    assert found is not None
    assert found.last_transition_time == t1
    assert find_condition(flipped, "Other") == other
    assert find_condition(flipped, "Missing") is None


def test_object_meta_keeps_fields_it_does_not_model() -> None:
    meta = ObjectMeta.model_validate(
        {"name": "n", "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z"}
    )
    assert meta.resource_version == "7"
    assert meta.model_dump(by_alias=True, exclude_none=True)["creationTimestamp"]
