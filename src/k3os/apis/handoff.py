"""The hand-off between the Plan controller and a node's agent, as two Node annotations.

Once a node is cordoned and drained, the controller writes the *request*
`request.upgrade.k3os.io/<plan>`: which hash, version and image (bundle reference) to run.
The agent carries it out (stage, reboot, health check, commit or fall back) and answers
with the *outcome* `outcome.upgrade.k3os.io/<plan>` for that hash: `Complete` with the
version it booted, or `Failed` with why (a rollback says so). The controller turns the
outcome into the node's record (`status.upgrade.k3os.io/<plan>`) and drops the request.
An agent acts on a request only while no outcome for the same hash exists, so a restart
or a repeated watch event never runs an upgrade twice.

When the plan leaves nothing to decide after a successful upgrade (it does not cordon,
keeps no `postCompleteDelay`, and its health gate asks only for readiness), the request
carries a *finish*: the labels that mark the node done (the plan's done label at the
hash and its postCompleteLabels). The agent then writes them itself with its `Complete`
outcome, the record complete and the request dropped, all in the one write that answers;
the controller only frees the node's slot, one Node write fewer per upgraded node.
NodeRestriction lets a node set those labels in that write only, and never lets it write
a request (k3os.security.noderestriction).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ValidationError

from k3os.apis.keys import OUTCOME_PREFIX, REQUEST_PREFIX, _per_plan, node_record_key
from k3os.apis.meta import ApiModel
from k3os.apis.noderecord import read_record

__all__ = [
    "OUTCOME_PREFIX",
    "REQUEST_PREFIX",
    "UpgradeFinish",
    "UpgradeOutcome",
    "UpgradeRequest",
    "agent_finish",
    "agent_finished",
    "outcome_key",
    "read_outcome",
    "read_request",
    "request_key",
    "requests_on",
]


def request_key(plan_name: str) -> str:
    return _per_plan(REQUEST_PREFIX, plan_name)


def outcome_key(plan_name: str) -> str:
    return _per_plan(OUTCOME_PREFIX, plan_name)


class UpgradeFinish(ApiModel):
    """What the agent writes itself with a `Complete` outcome for the request's hash."""

    labels: dict[str, str]
    """The labels that mark the node done: the plan's done label and its postCompleteLabels."""


class UpgradeRequest(ApiModel):
    """Written by the controller: run `image` (version `version`) for the plan's `hash`."""

    plan: str
    """`<namespace>/<name>` of the Plan."""
    hash: str
    version: str
    image: str
    finish: UpgradeFinish | None = None
    """Set when the agent finishes the node itself on success (module docstring)."""

    def encode(self) -> str:
        return json.dumps(self.wire(), sort_keys=True, separators=(",", ":"))


class UpgradeOutcome(ApiModel):
    """Written by the agent once the request for `hash` is finished one way or the other."""

    hash: str
    phase: Literal["Complete", "Failed"]
    version: str = ""
    """The version the node booted afterwards (the old one after a rollback)."""
    reason: str = ""
    message: str = ""

    def encode(self) -> str:
        return json.dumps(self.wire(), sort_keys=True, separators=(",", ":"))


def read_request(annotations: Mapping[str, str], plan_name: str) -> UpgradeRequest | None:
    raw = annotations.get(request_key(plan_name))
    if raw is None:
        return None
    try:
        return UpgradeRequest.model_validate_json(raw)
    except ValidationError:
        return None


def read_outcome(annotations: Mapping[str, str], plan_name: str) -> UpgradeOutcome | None:
    """The agent's outcome, or None (absent or unreadable)."""
    raw = annotations.get(outcome_key(plan_name))
    if raw is None:
        return None
    try:
        return UpgradeOutcome.model_validate_json(raw)
    except ValidationError:
        return None


def requests_on(annotations: Mapping[str, str]) -> dict[str, UpgradeRequest]:
    """Every readable upgrade request on a node, by plan name (what an agent scans for)."""
    found: dict[str, UpgradeRequest] = {}
    for key in annotations:
        if key.startswith(REQUEST_PREFIX):
            plan_name = key[len(REQUEST_PREFIX) :]
            request = read_request(annotations, plan_name)
            if request is not None:
                found[plan_name] = request
    return found


def agent_finish(
    annotations: Mapping[str, str], plan_name: str, outcome: UpgradeOutcome
) -> dict[str, Any] | None:
    """The merge patch by which the agent finishes the node itself, to go into the write of
    `outcome`: the request's finish labels, the node's record complete at the hash (with no
    time: the rollout's times are the controller's clock, which stamps the record when it
    needs one), the request dropped. None unless the outcome is `Complete` for the request
    in flight (its record applying at the same hash) and the request delegates the finish."""
    request = read_request(annotations, plan_name)
    if outcome.phase != "Complete" or request is None or request.finish is None:
        return None
    record = read_record(dict(annotations), plan_name)
    if record is None or record.phase != "Applying" or record.hash != request.hash:
        return None
    if outcome.hash != request.hash:
        return None
    done = record.model_copy(update={"phase": "Complete", "since": None})
    return {
        "metadata": {
            "labels": dict(request.finish.labels),
            "annotations": {
                node_record_key(plan_name): done.encode(),
                request_key(plan_name): None,
            },
        }
    }


def agent_finished(
    before: Mapping[str, str], after: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """The requests a write of a node's annotations from `before` to `after` finishes as
    their agent may (by request key, with the labels each lets it set): each request in
    `before` that delegates its finish and that the write drops, answering it `Complete`
    at its hash with the record complete there."""
    finished: dict[str, dict[str, str]] = {}
    for key in before:
        if not key.startswith(REQUEST_PREFIX) or key in after:
            continue
        plan_name = key[len(REQUEST_PREFIX) :]
        try:
            request = read_request(before, plan_name)
        except ValueError:  # not a plan name: no request of ours
            continue
        if request is None or request.finish is None:
            continue
        outcome = read_outcome(after, plan_name)
        record = read_record(dict(after), plan_name)
        if (
            outcome is not None
            and outcome.phase == "Complete"
            and outcome.hash == request.hash
            and record is not None
            and record.phase == "Complete"
            and record.hash == request.hash
        ):
            finished[key] = dict(request.finish.labels)
    return finished
