"""The Node write of each rollout step on one node, with two steps folded into one where
nothing can be observed between them.

Unfolded, the Plan controller writes a node four times: *start* (its record, and the cordon
when the plan cordons), *hand-over* (the upgrade request for its agent), *outcome* (the
agent's answer turned into the record) and *finish* (the done label, postCompleteLabels,
undoing our cordon). Two pairs fold into one JSON merge patch, which the API server applies
atomically, so no reader ever sees half of it:

- **begin** = start + hand-over, when the plan neither cordons nor drains: with no cordon to
  take effect and no pods to evict there is nothing to wait for between the two. A plan
  that cordons or drains keeps the ordered steps (cordon, drain, then the request).
- **outcome + finish**, when the agent reports `Complete` at the plan's current hash, the
  node already passes the health gate and `postCompleteDelay` is 0: the node is recorded
  complete and labelled done in one write.
- **outcome + finish by the agent**, when the plan also leaves nothing to decide after a
  success (`agent_finishes`: no cordon to undo, no delay, a health gate of readiness only):
  the begin write puts the finish labels beside the request, and the agent's own
  `Complete` answer records the node complete, labels it done and drops the request (and
  the finish) in its write (`k3os.apis.handoff.agent_finish`). The controller then
  writes nothing to the node; the next status write frees its slot. The health gate is
  still the controller's: a node it finds unready stays in its slot and fails past
  `healthGate.timeout`, which takes the done label away again.

Every folded patch leaves the node in a state the unfolded steps also pass through, so a
controller restarted at any point reads the same states as before and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from k3os.apis.handoff import (
    UpgradeFinish,
    UpgradeOutcome,
    UpgradeRequest,
    finish_key,
    outcome_key,
    request_dropped,
    request_key,
)
from k3os.apis.plan import Plan
from k3os.controllers.decisions.nodepatches import (
    complete_patch,
    fail_patch,
    finish_patch,
    merge_patches,
    start_patch,
)
from k3os.controllers.decisions.nodes import NodeView
from k3os.controllers.decisions.planhash import effective_image
from k3os.controllers.decisions.rollout import health_problems

Patch = dict[str, Any]


def upgrade_request(plan: Plan, latest_hash: str, version: str) -> UpgradeRequest:
    """What the node's agent is asked to run for `plan` at `latest_hash`."""
    return UpgradeRequest(
        plan=f"{plan.metadata.namespace or 'default'}/{plan.metadata.name}",
        hash=latest_hash,
        version=version,
        image=effective_image(plan.spec.upgrade.image, version),
    )


def handover_patch(
    plan: Plan, latest_hash: str, version: str, finish: UpgradeFinish | None = None
) -> Patch:
    """Hand the node to its agent: write the upgrade request (and, with `finish`, what the
    agent may write itself when it succeeds; without, any finish of an earlier run goes)."""
    name = plan.metadata.name
    request = upgrade_request(plan, latest_hash, version)
    notes = {request_key(name): request.encode(), finish_key(name): None}
    if finish is not None:
        notes[finish_key(name)] = finish.encode()
    return {"metadata": {"annotations": notes}}


def agent_finishes(plan: Plan) -> bool:
    """Whether the plan leaves nothing to decide after a success but the readiness its
    agent reports itself: no cordon to undo, no `postCompleteDelay`, no health-gate
    conditions beyond Ready, no canary stage. A finish for the agent to write then stands
    beside its requests."""
    delay = plan.spec.post_complete_delay or timedelta(0)
    gate = plan.spec.health_gate
    return (
        not plan.spec.cordons
        and delay <= timedelta(0)
        and not gate.conditions
        and plan.spec.canary is None  # its delay counts from the done nodes' recorded times
    )


def agent_finish_of(
    plan: Plan, node: NodeView, latest_hash: str, version: str
) -> UpgradeFinish | None:
    """The finish beside a request to `node`: the labels `finish_patch` would write, when
    the plan `agent_finishes` and finishing the node takes nothing but those labels (no
    cordon of ours left on it from an earlier spec)."""
    if not agent_finishes(plan):
        return None
    patch = finish_patch(plan, node, latest_hash, version)
    if set(patch) != {"metadata"} or set(patch["metadata"]) != {"labels"}:
        return None
    return UpgradeFinish(hash=latest_hash, labels=patch["metadata"]["labels"])


def folds_handover(plan: Plan) -> bool:
    """Start and hand-over are one write unless the plan cordons or drains."""
    return not plan.spec.cordons


def begin_patch(
    plan: Plan, node: NodeView, latest_hash: str, version: str, now: datetime
) -> tuple[Patch, bool]:
    """(patch, handed over) to start `node`: its record (and cordon), the last run's
    request and outcome cleared, and the new request too when `folds_handover`."""
    name = plan.metadata.name
    clear = {"metadata": {"annotations": {outcome_key(name): None, **request_dropped(name)}}}
    patch = merge_patches(start_patch(plan, node, latest_hash, now), clear)
    if not folds_handover(plan):
        return patch, False
    finish = agent_finish_of(plan, node, latest_hash, version)
    return merge_patches(patch, handover_patch(plan, latest_hash, version, finish)), True


def finishes_at_once(plan: Plan, node: NodeView) -> bool:
    """A completed node is done in the same write when it already passes the health gate
    and the plan keeps no slot after completion (postCompleteDelay 0)."""
    delay = plan.spec.post_complete_delay or timedelta(0)
    return delay <= timedelta(0) and not health_problems(node, plan.spec.health_gate)


@dataclass(frozen=True)
class OutcomeStep:
    """The write that takes an agent's outcome for the node's record at `record_hash`."""

    patch: Patch
    result: Literal["Complete", "Done", "Failed"]
    """Complete: waits for the health gate or the delay; Done: finished in the same write."""
    reason: str = ""
    message: str = ""


def outcome_step(
    plan: Plan,
    node: NodeView,
    outcome: UpgradeOutcome,
    record_hash: str,
    latest_hash: str,
    version: str,
    now: datetime,
) -> OutcomeStep:
    """Turn the agent's `outcome` into the node's record and drop the request; finish the
    node in the same patch when `finishes_at_once` and the outcome is for the current hash
    (one for an older hash is recorded, and the node then starts again at the new one)."""
    clear = {"metadata": {"annotations": request_dropped(plan.metadata.name)}}
    if outcome.phase == "Complete":
        patch = merge_patches(complete_patch(plan, node, record_hash, now), clear)
        if record_hash != latest_hash or not finishes_at_once(plan, node):
            return OutcomeStep(patch, "Complete")
        done = finish_patch(plan, node, latest_hash, version)
        return OutcomeStep(merge_patches(patch, done), "Done")
    reason = outcome.reason or "UpgradeFailed"
    message = outcome.message or "the agent reported a failed upgrade"
    failed = fail_patch(
        plan, node, record_hash, now, reason=reason, message=message, os_touched=True
    )
    return OutcomeStep(merge_patches(failed, clear), "Failed", reason, message)
