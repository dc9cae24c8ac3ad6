"""Draining a node for a Plan, one step at a time, through the API.

Each call lists the pods bound to the node, asks the pure `plan_drain`/`drain_step` what
to do, and carries it out: pods go through the `pods/eviction` subresource so
PodDisruptionBudgets hold (a 429 means a budget holds the pod back for now: the drain
keeps waiting until `drain.timeout`), or are deleted with `disableEviction`. When the
timeout expires, `drain.onTimeout: force` deletes what is left without eviction; `fail`
fails the node. Nothing here sleeps: the Plan controller calls again after
`requeue_after`.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from k3os.apis.plan import DrainSpec
from k3os.client import ApiStatusError, Kube, NotFoundError
from k3os.client.resources import PODS
from k3os.controllers.decisions import (
    DrainPlan,
    DrainStep,
    DrainVerdict,
    PodView,
    drain_step,
    plan_drain,
)

__all__ = ["DRAIN_POLL", "DrainProgress", "drain_once"]

log = logging.getLogger(__name__)

DRAIN_POLL = timedelta(seconds=1)
"""How soon to look again while pods are still leaving."""


@dataclass(frozen=True)
class DrainProgress:
    step: DrainStep
    plan: DrainPlan
    evicted: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    """Evictions refused with 429 (a PodDisruptionBudget holds them)."""

    @property
    def requeue_after(self) -> timedelta:
        wait = self.step.requeue_after
        return min(wait, DRAIN_POLL) if wait is not None else DRAIN_POLL


async def _pods_on(kube: Kube, node: str) -> list[dict[str, Any]]:
    listing = await kube.list(PODS, field_selector=f"spec.nodeName={node}")
    return listing.items


async def _evict(kube: Kube, pod: PodView, grace: int | None) -> bool:
    """True if granted (or already gone); False when a budget refuses it (429)."""
    body: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
    }
    if grace is not None:
        body["deleteOptions"] = {"gracePeriodSeconds": grace}
    path = PODS.path(pod.namespace, pod.name, "eviction")
    try:
        await kube.request("POST", path, body=body)
    except NotFoundError:
        return True
    except ApiStatusError as e:
        if e.code == 429:
            return False
        raise
    return True


async def _delete(kube: Kube, pod: PodView, grace: int | None) -> None:
    with contextlib.suppress(NotFoundError):
        await kube.delete(PODS, pod.name, pod.namespace, grace_period=grace)


async def drain_once(
    kube: Kube, drain: DrainSpec, node: str, started: datetime, now: datetime
) -> DrainProgress:
    """One step of draining `node` (started at `started`): evict, wait, force or give up."""
    pods = [PodView.from_pod(p) for p in await _pods_on(kube, node)]
    plan = plan_drain(pods, drain, now)
    step = drain_step(drain, plan, started, now)
    evicted: list[str] = []
    deleted: list[str] = []
    refused: list[str] = []
    if step.verdict is DrainVerdict.WAIT:
        for pod in plan.remove:
            if pod.deletion_timestamp is not None and not pod.finished:
                continue  # already leaving; its node finishes the deletion
            if plan.method == "delete" or pod.finished:
                await _delete(kube, pod, plan.grace_period)
                deleted.append(pod.key)
            elif await _evict(kube, pod, plan.grace_period):
                evicted.append(pod.key)
            else:
                refused.append(pod.key)
    elif step.verdict is DrainVerdict.FORCE:
        for pod in plan.remove:
            await _delete(kube, pod, 0)
            deleted.append(pod.key)
    if refused:
        log.info("drain %s: disruption budget holds %s", node, ", ".join(refused))
    return DrainProgress(step, plan, tuple(evicted), tuple(deleted), tuple(refused))
