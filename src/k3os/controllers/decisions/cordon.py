"""Cordon and uncordon as merge patches, remembering on the Node who cordoned it.

We cordon a schedulable node and write `upgrade.k3os.io/cordoned-by: <namespace>/<plan>`.
We uncordon only a node carrying our own record: a node an operator (or another plan)
cordoned stays cordoned. A patch of None means "leave the node alone".
"""

from __future__ import annotations

from typing import Any

from k3os.apis.keys import CORDONED_BY
from k3os.apis.plan import Plan
from k3os.controllers.decisions.nodes import NodeView

Patch = dict[str, Any]


def cordon_owner(plan: Plan) -> str:
    return f"{plan.metadata.namespace or 'default'}/{plan.metadata.name}"


def cordoned_by(node: NodeView) -> str | None:
    return node.annotations.get(CORDONED_BY)


def cordon_patch(node: NodeView, owner: str) -> Patch | None:
    """Cordon `node` for `owner`; None if it is already unschedulable (ours or not)."""
    if node.unschedulable:
        return None
    return {"spec": {"unschedulable": True}, "metadata": {"annotations": {CORDONED_BY: owner}}}


def uncordon_patch(node: NodeView, owner: str) -> Patch | None:
    """Undo our cordon; only clear a stale record if someone already uncordoned the node."""
    if cordoned_by(node) != owner:
        return None
    patch: Patch = {"metadata": {"annotations": {CORDONED_BY: None}}}
    if node.unschedulable:
        patch["spec"] = {"unschedulable": False}
    return patch
