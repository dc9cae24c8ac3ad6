"""Draining a node before its upgrade: which pods go, how, and what an expired drain does.

`plan_drain` sorts the node's pods as `kubectl drain` would (podSelector first; mirror
pods and, with ignoreDaemonSets, DaemonSet pods skipped; pods with emptyDir data or no
controller block the drain unless deleteEmptydirData / force allow them; finished pods
always go). Pods go by eviction, so PodDisruptionBudgets hold, unless disableEviction.
`drain_step` then says, from the time the drain started, whether to keep waiting, call it
done, fail the node or force the rest, as `drain.onTimeout` asks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from k3os.apis.plan import DrainSpec

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


@dataclass(frozen=True)
class PodView:
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    controller_kind: str | None = "ReplicaSet"
    """Kind of the controlling ownerReference; None for a bare pod."""
    phase: str = "Running"
    has_emptydir: bool = False
    deletion_timestamp: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any]) -> PodView:
        meta = pod.get("metadata") or {}
        controller = next(
            (o.get("kind") for o in meta.get("ownerReferences") or [] if o.get("controller")),
            None,
        )
        deleted = meta.get("deletionTimestamp")
        return cls(
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
            controller_kind=controller,
            phase=str((pod.get("status") or {}).get("phase", "")),
            has_emptydir=any("emptyDir" in v for v in (pod.get("spec") or {}).get("volumes") or []),
            deletion_timestamp=(
                datetime.fromisoformat(str(deleted).replace("Z", "+00:00")) if deleted else None
            ),
        )


@dataclass(frozen=True)
class DrainPlan:
    remove: tuple[PodView, ...]
    """Pods to evict (or delete, see `method`)."""
    skipped: tuple[tuple[PodView, str], ...]
    blockers: tuple[tuple[PodView, str], ...]
    """Pods that stop the drain, with the flag that would allow them."""
    method: Literal["evict", "delete"]
    grace_period: int | None

    @property
    def blocked(self) -> bool:
        return bool(self.blockers)


def plan_drain(pods: Iterable[PodView], drain: DrainSpec, now: datetime) -> DrainPlan:
    remove: list[PodView] = []
    skipped: list[tuple[PodView, str]] = []
    blockers: list[tuple[PodView, str]] = []
    skip_after = drain.skip_wait_for_delete_timeout
    for pod in sorted(pods, key=lambda p: p.key):
        if drain.pod_selector is not None and not drain.pod_selector.matches(dict(pod.labels)):
            continue
        if (
            skip_after
            and pod.deletion_timestamp is not None
            and now - pod.deletion_timestamp > timedelta(seconds=skip_after)
        ):
            skipped.append((pod, "deleting for longer than skipWaitForDeleteTimeout"))
        elif pod.controller_kind == "DaemonSet":
            if drain.ignore_daemon_sets:
                skipped.append((pod, "managed by a DaemonSet"))
            else:
                blockers.append((pod, "managed by a DaemonSet (set drain.ignoreDaemonSets)"))
        elif MIRROR_ANNOTATION in pod.annotations:
            skipped.append((pod, "a static (mirror) pod"))
        elif pod.finished:
            remove.append(pod)
        elif pod.has_emptydir and not drain.delete_emptydir:
            blockers.append((pod, "has emptyDir data (set drain.deleteEmptydirData)"))
        elif pod.controller_kind is None and not drain.force:
            blockers.append((pod, "has no controller (set drain.force)"))
        else:
            remove.append(pod)
    return DrainPlan(
        remove=tuple(remove),
        skipped=tuple(skipped),
        blockers=tuple(blockers),
        method="delete" if drain.disable_eviction else "evict",
        grace_period=drain.grace_period,
    )


class DrainVerdict(StrEnum):
    WAIT = "Wait"  # keep evicting (a PDB may be holding a pod back)
    DONE = "Done"  # nothing left to remove
    FAIL = "Fail"  # blocked, or timed out with onTimeout=fail: fail the node, uncordon it
    FORCE = "Force"  # timed out with onTimeout=force: delete what is left, bypassing PDBs


@dataclass(frozen=True)
class DrainStep:
    verdict: DrainVerdict
    reason: str = ""
    message: str = ""
    requeue_after: timedelta | None = None


def drain_step(drain: DrainSpec, plan: DrainPlan, started: datetime, now: datetime) -> DrainStep:
    """What to do with a drain that started at `started`, given what is still on the node."""
    if plan.blockers:
        listed = "; ".join(f"{pod.key} {why}" for pod, why in plan.blockers[:5])
        return DrainStep(DrainVerdict.FAIL, "DrainBlocked", f"cannot drain: {listed}")
    if not plan.remove:
        return DrainStep(DrainVerdict.DONE)
    left = ", ".join(pod.key for pod in plan.remove[:5])
    timeout = drain.timeout
    if not timeout:
        return DrainStep(DrainVerdict.WAIT, "Draining", f"waiting for {left} (no timeout)")
    deadline = started + timeout
    if now < deadline:
        message = f"waiting for {left}; gives up at {deadline}"
        return DrainStep(DrainVerdict.WAIT, "Draining", message, deadline - now)
    if drain.on_timeout == "force":
        message = f"drain timed out after {timeout}; deleting {left} without eviction"
        return DrainStep(DrainVerdict.FORCE, "DrainForced", message)
    message = f"drain timed out after {timeout} with {left} still running (onTimeout: fail)"
    return DrainStep(DrainVerdict.FAIL, "DrainTimeout", message)
