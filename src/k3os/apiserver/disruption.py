"""Whether evicting a pod keeps its PodDisruptionBudget: a pure decision over the budget
and the pods it selects (no disruption controller is needed to have computed it first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Budget", "assess", "pod_is_healthy"]

Obj = dict[str, Any]


def pod_is_healthy(pod: Obj) -> bool:
    """Ready and not on its way out, as the disruption controller counts it."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


@dataclass(frozen=True)
class Budget:
    expected: int
    healthy: int
    desired: int

    @property
    def disruptions_allowed(self) -> int:
        return max(0, self.healthy - self.desired)

    def why_blocked(self) -> str:
        return f"needs {self.desired} healthy pods and has {self.healthy} currently"


def assess(pdb: Obj, pods: list[Obj]) -> Budget:
    """The budget's numbers over `pods` (those its selector matches)."""
    spec = pdb.get("spec") or {}
    expected = len(pods)
    healthy = sum(1 for p in pods if pod_is_healthy(p))
    if spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    elif spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
    else:
        desired = expected
    return Budget(expected, healthy, desired)
