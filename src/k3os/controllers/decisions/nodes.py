"""A read-only view of a Node with just what the decisions need, built from the API object.

Keeping decisions on this small view (not on a client library's Node type) keeps them
pure and lets tests write a node in one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from k3os.apis.meta import Toleration

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"


@dataclass(frozen=True)
class NodeView:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    conditions: Mapping[str, str] = field(default_factory=lambda: {"Ready": "True"})
    """Condition type -> status ("True"/"False"/"Unknown")."""
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False
    uid: str = ""
    ready_since: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.conditions.get("Ready") == "True"

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> NodeView:
        """From a Node as the API returns it (a decoded JSON object)."""
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        conditions: dict[str, str] = {}
        ready_since = None
        for cond in status.get("conditions") or []:
            conditions[str(cond.get("type"))] = str(cond.get("status"))
            if cond.get("type") == "Ready" and cond.get("lastTransitionTime"):
                raw = str(cond["lastTransitionTime"]).replace("Z", "+00:00")
                ready_since = datetime.fromisoformat(raw)
        taints = tuple(
            Taint(str(t.get("key", "")), str(t.get("value") or ""), str(t.get("effect", "")))
            for t in spec.get("taints") or []
        )
        return cls(
            name=str(meta.get("name", "")),
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
            conditions=conditions,
            taints=taints,
            unschedulable=bool(spec.get("unschedulable", False)),
            uid=str(meta.get("uid", "")),
            ready_since=ready_since,
        )


def untolerated_taints(tolerations: Iterable[Toleration], node: NodeView) -> list[Taint]:
    """Taints that keep a plan off a node. Our own cordon taint is always tolerated, as are
    PreferNoSchedule taints (a preference, not a rule)."""
    tolerations = list(tolerations)
    blocking = []
    for taint in node.taints:
        if taint.key == UNSCHEDULABLE_TAINT or taint.effect == "PreferNoSchedule":
            continue
        if not any(t.tolerates(taint.key, taint.value, taint.effect) for t in tolerations):
            blocking.append(taint)
    return blocking
