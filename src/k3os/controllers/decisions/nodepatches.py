"""The Node changes behind each rollout step, as JSON merge patches.

Starting a node records it as applying (with the retry token it consumed) and cordons it
if the plan asks; finishing labels it done, sets the plan's postCompleteLabels and undoes
our cordon; failing records the failure (keeping the token, so the node is not retried
until an operator sets a new one) and, for failures that never touched the OS, undoes our
cordon. The controller sends these patches; a repeated patch changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from k3os.apis.keys import done_label, node_record_key
from k3os.apis.noderecord import NodeUpgradeRecord, Phase, retry_token
from k3os.apis.plan import Plan
from k3os.controllers.decisions.cordon import cordon_owner, cordon_patch, uncordon_patch
from k3os.controllers.decisions.nodes import NodeView

Patch = dict[str, Any]


def merge_patches(*patches: Patch | None) -> Patch:
    """One merge patch doing what all of `patches` do (later ones win on conflicts)."""
    out: Patch = {}
    for patch in patches:
        for key, value in (patch or {}).items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge_patches(out[key], value)
            else:
                out[key] = value
    return out


def patch_changes(obj: Any, patch: Patch) -> bool:
    """Whether applying the merge `patch` to `obj` (a decoded API object) changes it: a
    patch that changes nothing need not be sent."""
    if not isinstance(obj, dict):
        return True
    for key, value in patch.items():
        if value is None:
            if key in obj:
                return True
        elif isinstance(value, dict):
            if patch_changes(obj.get(key, {}), value):
                return True
        elif obj.get(key) != value:
            return True
    return False


def _record(
    plan: Plan,
    node: NodeView,
    latest_hash: str,
    phase: Phase,
    now: datetime,
    reason: str,
    message: str,
) -> Patch:
    record = NodeUpgradeRecord(
        hash=latest_hash,
        phase=phase,
        since=now,
        reason=reason,
        message=message,
        retry=retry_token(dict(node.annotations), plan.metadata.name),
    )
    return {"metadata": {"annotations": {node_record_key(plan.metadata.name): record.encode()}}}


def start_patch(plan: Plan, node: NodeView, latest_hash: str, now: datetime) -> Patch:
    """Record the node as applying `latest_hash`, and cordon it if the plan cordons."""
    cordon = cordon_patch(node, cordon_owner(plan)) if plan.spec.cordons else None
    return merge_patches(_record(plan, node, latest_hash, "Applying", now, "", ""), cordon)


def complete_patch(plan: Plan, node: NodeView, latest_hash: str, now: datetime) -> Patch:
    """The agent reported the upgrade done: the node now waits for the health gate."""
    return _record(plan, node, latest_hash, "Complete", now, "", "")


def expand(template: str, latest_version: str, latest_hash: str) -> str:
    return template.replace("$(LATEST_VERSION)", latest_version).replace(
        "$(LATEST_HASH)", latest_hash
    )


def finish_patch(plan: Plan, node: NodeView, latest_hash: str, latest_version: str) -> Patch:
    """Label the node done (plus postCompleteLabels) and undo our cordon."""
    labels = {done_label(plan.metadata.name): latest_hash}
    for key, value in plan.spec.post_complete_labels.items():
        labels[key] = expand(value, latest_version, latest_hash)
    return merge_patches({"metadata": {"labels": labels}}, uncordon_patch(node, cordon_owner(plan)))


def fail_patch(
    plan: Plan,
    node: NodeView,
    latest_hash: str,
    now: datetime,
    *,
    reason: str,
    message: str,
    os_touched: bool,
) -> Patch:
    """Record a failure. A node whose OS was touched stays cordoned for inspection; one
    that failed before (a drain) is uncordoned if we cordoned it. A done label at this
    hash is removed, so the node does not count as done."""
    patch = _record(plan, node, latest_hash, "Failed", now, reason, message)
    label = done_label(plan.metadata.name)
    if node.labels.get(label) == latest_hash:
        patch = merge_patches(patch, {"metadata": {"labels": {label: None}}})
    if not os_touched:
        patch = merge_patches(patch, uncordon_patch(node, cordon_owner(plan)))
    return patch
