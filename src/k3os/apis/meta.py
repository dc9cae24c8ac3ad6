"""Shared shapes of Kubernetes objects: metadata, label selectors, conditions, tolerations.

Every model reads and writes camelCase on the wire (`by_alias`), accepts the Python names
too, and refuses unknown fields in specs so a typo is an error, not a silent no-op.
Selectors and tolerations carry their own matching rules: they are pure and shared by
the controllers, the agent and the tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base of every spec/status shape: camelCase aliases, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready form as the API server stores it (aliases, unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ObjectMeta(BaseModel):
    """The parts of `metadata` the decisions read; everything else is kept as it came."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class LabelSelectorRequirement(ApiModel):
    """One `matchExpressions` entry: key, operator and values."""

    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs a non-empty values list")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        if self.operator == "In":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


class LabelSelector(ApiModel):
    """A Kubernetes LabelSelector; the empty selector matches every object."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    def matches(self, labels: dict[str, str]) -> bool:
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A `metav1.Condition`: one observed aspect of an object's state."""

    type: str = Field(min_length=1)
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None
    observed_generation: int | None = None


def set_condition(
    conditions: list[Condition] | tuple[Condition, ...], new: Condition, now: datetime
) -> list[Condition]:
    """Replace the condition of `new.type`, keeping its transition time if the status held."""
    out: list[Condition] = []
    placed = False
    for old in conditions:
        if old.type != new.type:
            out.append(old)
            continue
        when = old.last_transition_time if old.status == new.status else now
        out.append(new.model_copy(update={"last_transition_time": when or now}))
        placed = True
    if not placed:
        out.append(new.model_copy(update={"last_transition_time": now}))
    return out


def find_condition(
    conditions: list[Condition] | tuple[Condition, ...], type_: str
) -> Condition | None:
    for condition in conditions:
        if condition.type == type_:
            return condition
    return None


TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class Toleration(ApiModel):
    """A pod toleration; a Plan's tolerations decide which tainted nodes it may touch."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] | None = None
    toleration_seconds: int | None = None

    def tolerates(self, key: str, value: str, effect: str) -> bool:
        """Kubernetes' rule: empty effect matches all effects, empty key with Exists all keys."""
        if self.effect and self.effect != effect:
            return False
        if not self.key:
            return self.operator == "Exists"
        if self.key != key:
            return False
        if self.operator == "Exists":
            return True
        return (self.value or "") == value


def error_field(loc: Any, root: str = "") -> str:
    """A pydantic error's location as an API field path (`spec.tolerations[0].operator`),
    under `root` when given."""
    field = root
    for part in loc or ():
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    return field


def error_text(error: Any) -> str:
    """A pydantic error's message without the `Value error, ` its validators' get."""
    return str(error.get("msg") or "").removeprefix("Value error, ")
