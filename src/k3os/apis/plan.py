"""`Plan` (`upgrade.cattle.io/v1`, namespaced): an upgrade rolled through selected nodes.

The shape is system-upgrade-controller's, so k3OS and SUC plans parse unchanged; our
additions (maxFailures, paused, canary, healthGate, drain.onTimeout) default to the safe
choice. See docs/fleet.md for what every field does.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from k3os.apis.duration import Duration
from k3os.apis.meta import ApiModel, Condition, LabelSelector, ObjectMeta, Toleration

PRESERVE: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}

_DAYS = {
    "sunday": 6,
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
}


def parse_weekday(text: str) -> int:
    """`"mon"`, `"Monday"`, `"mo"` or `"1"` (0 is Sunday) -> Python weekday (Monday 0)."""
    word = text.strip().lower()
    if word.isdigit() and int(word) <= 6:
        return (int(word) - 1) % 7
    for name, number in _DAYS.items():
        if len(word) >= 2 and name.startswith(word) and (len(word) in (2, 3) or word == name):
            return number
    raise ValueError(f"expected a day of the week (sunday..saturday, sun, su or 0-6), got {text!r}")


_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")


def parse_clock(text: str) -> time:
    """`"23:30"`, `"23:30:15"` or `"11:30 PM"` -> a wall-clock time."""
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"expected a time of day such as 02:00 or 2:00 AM, got {text!r}")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if match[4]:
        if not 1 <= hour <= 12:
            raise ValueError(f"expected an hour 1-12 before AM/PM, got {text!r}")
        hour = hour % 12 + (12 if match[4].lower() == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"expected a time of day within 00:00-23:59:59, got {text!r}")
    return time(hour, minute, second)


class TimeWindow(ApiModel):
    """When new nodes may start: on these days (all if empty), from startTime to endTime."""

    days: list[str] = Field(
        default_factory=list,
        description="Day names (sunday, sun, su; any case) or 0-6 with 0 = Sunday; empty: "
        "every day.",
    )
    start_time: str = Field(
        default="00:00", description="When the window opens: 23:30, 23:30:00 or 11:30 PM."
    )
    end_time: str = Field(
        default="00:00",
        description="When it closes; before startTime: it crosses midnight; equal: 24 hours.",
    )
    time_zone: str = Field(default="UTC", description="An IANA time zone, e.g. Europe/Berlin.")

    @field_validator("days")
    @classmethod
    def _check_days(cls, days: list[str]) -> list[str]:
        for day in days:
            parse_weekday(day)
        return days

    @field_validator("start_time", "end_time")
    @classmethod
    def _check_time(cls, value: str) -> str:
        parse_clock(value)
        return value

    @field_validator("time_zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(
                f"expected an IANA time zone such as Europe/Berlin, got {value!r}"
            ) from e
        return value

    def weekdays(self) -> frozenset[int]:
        return frozenset(parse_weekday(d) for d in self.days) if self.days else frozenset(range(7))

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class EnvVar(ApiModel):
    name: str = Field(min_length=1)
    value: str | None = None
    value_from: dict[str, Any] | None = Field(default=None, json_schema_extra=PRESERVE)


class HostVolume(ApiModel):
    """A host path mounted for the upgrade (SUC `volumes`)."""

    name: str
    source: str
    destination: str


class ContainerSpec(ApiModel):
    """What runs: for k3os an image bundle reference (URL, or a name the server serves)."""

    image: str = Field(
        min_length=1,
        description="An image bundle: a URL, or a name the server serves from its image "
        "store; $(LATEST_VERSION) is replaced, an untagged OCI-style name gets :<version>.",
    )
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    envs: list[EnvVar] = Field(default_factory=list)
    env_from: list[dict[str, Any]] = Field(
        default_factory=list, json_schema_extra={"items": {"type": "object", **PRESERVE}}
    )
    volumes: list[HostVolume] = Field(default_factory=list)
    security_context: dict[str, Any] | None = Field(default=None, json_schema_extra=PRESERVE)


class DrainSpec(ApiModel):
    """How a node is drained before its upgrade; `onTimeout` says what an expired drain does."""

    timeout: Duration | None = Field(
        default=timedelta(minutes=15),
        description="How long evictions may take; 0s waits forever. Default 15m.",
    )
    grace_period: int | None = Field(
        default=None, description="Seconds each pod is given to stop; unset: its own."
    )
    delete_local_data: bool | None = Field(
        default=None, description="The old name of deleteEmptydirData; set one, not both."
    )
    delete_emptydir_data: bool | None = Field(
        default=None, description="Evict pods with emptyDir volumes too (their data is lost)."
    )
    ignore_daemon_sets: bool = Field(default=True, description="Leave DaemonSet pods running.")
    force: bool = Field(
        default=False,
        description="Evict pods that no controller manages (they are not made again).",
    )
    disable_eviction: bool = Field(
        default=False,
        description="Delete pods instead of evicting them, bypassing PodDisruptionBudgets.",
    )
    skip_wait_for_delete_timeout: int | None = Field(
        default=None,
        ge=0,
        description="Do not wait for pods whose deletion began more than this many seconds ago.",
    )
    pod_selector: LabelSelector | None = Field(
        default=None, description="Only pods that match are drained."
    )
    on_timeout: Literal["fail", "force"] = Field(
        default="fail",
        description="fail: the node fails (uncordoned if we cordoned it); "
        "force: remaining pods are deleted without eviction, bypassing PodDisruptionBudgets.",
    )

    @model_validator(mode="after")
    def _one_local_data_flag(self) -> DrainSpec:
        if self.delete_local_data is not None and self.delete_emptydir_data is not None:
            raise ValueError("set deleteEmptydirData or its old name deleteLocalData, not both")
        return self

    @property
    def delete_emptydir(self) -> bool:
        return bool(self.delete_emptydir_data or self.delete_local_data)


class SecretSpec(ApiModel):
    name: str = Field(min_length=1)
    path: str = Field(min_length=1)
    ignore_updates: bool = False
    default_mode: int | None = None


class LocalObjectReference(ApiModel):
    name: str


class CanarySpec(ApiModel):
    """Upgrade `nodes` nodes first; go on after `delay`, or (no delay) after approval."""

    nodes: int = Field(ge=1, description="How many nodes upgrade first.")
    delay: Duration | None = Field(
        default=None,
        description="Go on this long after the last canary is healthy; unset: wait for the "
        "upgrade.k3os.io/canary-approved annotation on the Plan to equal status.latestHash.",
    )


class ConditionRequirement(ApiModel):
    type: str = Field(min_length=1)
    status: Literal["True", "False", "Unknown"] = "True"


class HealthGate(ApiModel):
    """What upgraded nodes must show before the next batch starts."""

    ready: bool = Field(default=True, description="Upgraded nodes must be Ready again.")
    conditions: list[ConditionRequirement] = Field(
        default_factory=list, description="Further node conditions upgraded nodes must show."
    )
    timeout: Duration | None = Field(
        default=None,
        description="A node still failing the gate this long after its upgrade counts as "
        "failed; unset: the rollout waits.",
    )


class PlanSpec(ApiModel):
    node_selector: LabelSelector | None = Field(
        default=None, description="Nodes this plan may touch; unset selects no node."
    )
    concurrency: int = Field(
        default=1, ge=0, description="Nodes in flight at once; 0 starts nothing. Default 1."
    )
    version: str | None = Field(
        default=None, description="The version to run; wins over channel. Set one of the two."
    )
    channel: str | None = Field(
        default=None,
        description="A URL answered with a redirect; the last path element of its Location is "
        "the version (asked again every 15 minutes).",
    )
    service_account_name: str | None = None
    exclusive: bool = Field(
        default=False,
        description="Never run on a node in flight for another exclusive plan.",
    )
    window: TimeWindow | None = Field(
        default=None,
        description="When new nodes may start (nodes in flight finish); unset: always.",
    )
    prepare: ContainerSpec | None = None
    upgrade: ContainerSpec
    cordon: bool = Field(default=False, description="Cordon before upgrading; drain implies it.")
    drain: DrainSpec | None = None
    tolerations: list[Toleration] = Field(
        default_factory=list,
        description="A node with a NoSchedule or NoExecute taint the plan does not tolerate is "
        "skipped.",
    )
    secrets: list[SecretSpec] = Field(default_factory=list)
    image_pull_secrets: list[LocalObjectReference] = Field(default_factory=list)
    priority_class_name: str | None = None
    post_complete_delay: Duration | None = Field(
        default=None,
        description="After its upgrade a node keeps its slot this long before it is done.",
    )
    job_active_deadline_secs: int | None = Field(
        default=None,
        ge=0,
        description="A node whose agent has not answered this many seconds after its start fails.",
    )
    post_complete_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels set on a node once it is done; $(LATEST_VERSION) and "
        "$(LATEST_HASH) are expanded.",
    )
    max_failures: int = Field(
        default=1, ge=1, description="Failed nodes (at the current hash) that halt the rollout."
    )
    paused: bool = Field(default=False, description="No new node starts; nodes in flight finish.")
    canary: CanarySpec | None = None
    health_gate: HealthGate = Field(default_factory=HealthGate)

    @model_validator(mode="after")
    def _version_or_channel(self) -> PlanSpec:
        if not self.version and not self.channel:
            raise ValueError("set spec.version or spec.channel")
        return self

    @property
    def cordons(self) -> bool:
        """Drain implies cordon, as in system-upgrade-controller."""
        return self.cordon or self.drain is not None


class PlanStatus(ApiModel):
    latest_version: str | None = None
    latest_hash: str | None = None
    applying: list[str] = Field(default_factory=list)
    failed: list[str] = Field(
        default_factory=list, description="Nodes that failed at latestHash and await a retry."
    )
    conditions: list[Condition] = Field(default_factory=list)


class Plan(ApiModel):
    api_version: Literal["upgrade.cattle.io/v1"] = "upgrade.cattle.io/v1"
    kind: Literal["Plan"] = "Plan"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PlanSpec
    status: PlanStatus = Field(default_factory=PlanStatus)
