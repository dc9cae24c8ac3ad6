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
keeps no `postCompleteDelay`, has no canary, and its health gate asks only for
readiness), the controller writes a *finish* `finish.upgrade.k3os.io/<plan>` beside the
request: the hash and the labels that mark the node done at it (the plan's done label and
its postCompleteLabels). The agent then writes them itself with its `Complete` outcome,
the record complete and the request and finish dropped, all in the one write that
answers; the controller only frees the node's slot, one Node write fewer per upgraded
node. The finish is an annotation of its own so that the request keeps its shape: an
agent of an earlier version, which knows no finish, still reads the request and answers
it, and the controller takes its answer as before. NodeRestriction lets a node set those
labels in that write only, and never lets it write a request or a finish
(k3os.security.noderestriction).

The hand-off's models read unknown fields without complaint (unlike the specs, whose
typos should fail): the controller and the agents of a fleet run different versions
during an upgrade, and a field a newer controller adds must not make an older agent
ignore its request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from k3os.apis.keys import (
    FINISH_PREFIX,
    OUTCOME_PREFIX,
    REQUEST_PREFIX,
    _per_plan,
    node_record_key,
)
from k3os.apis.meta import ApiModel
from k3os.apis.noderecord import read_record

__all__ = [
    "FINISH_PREFIX",
    "OUTCOME_PREFIX",
    "REQUEST_PREFIX",
    "UpgradeFinish",
    "UpgradeOutcome",
    "UpgradeRequest",
    "agent_finish",
    "agent_finished",
    "finish_key",
    "outcome_key",
    "read_finish",
    "read_outcome",
    "read_request",
    "request_dropped",
    "request_key",
    "requests_on",
]


def request_key(plan_name: str) -> str:
    return _per_plan(REQUEST_PREFIX, plan_name)


def outcome_key(plan_name: str) -> str:
    return _per_plan(OUTCOME_PREFIX, plan_name)


def finish_key(plan_name: str) -> str:
    return _per_plan(FINISH_PREFIX, plan_name)


def request_dropped(plan_name: str) -> dict[str, None]:
    """The annotations (as a merge patch's) that drop the plan's request and its finish."""
    return {request_key(plan_name): None, finish_key(plan_name): None}


class _HandoffModel(ApiModel):
    """Unknown fields are read past (module docstring): versions differ across a fleet."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def encode(self) -> str:
        return json.dumps(self.wire(), sort_keys=True, separators=(",", ":"))


class UpgradeFinish(_HandoffModel):
    """Written by the controller beside the request for `hash`: with a `Complete` answer to
    it, the agent sets `labels` itself."""

    hash: str
    labels: dict[str, str]
    """The labels that mark the node done: the plan's done label and its postCompleteLabels."""


class UpgradeRequest(_HandoffModel):
    """Written by the controller: run `image` (version `version`) for the plan's `hash`."""

    plan: str
    """`<namespace>/<name>` of the Plan."""
    hash: str
    version: str
    image: str


class UpgradeOutcome(_HandoffModel):
    """Written by the agent once the request for `hash` is finished one way or the other."""

    hash: str
    phase: Literal["Complete", "Failed"]
    version: str = ""
    """The version the node booted afterwards (the old one after a rollback)."""
    reason: str = ""
    message: str = ""


_Model = TypeVar("_Model", bound=_HandoffModel)


def _read(model: type[_Model], annotations: Mapping[str, str], key: str) -> _Model | None:
    """The annotation `key` read as `model`, or None (absent or unreadable)."""
    raw = annotations.get(key)
    if raw is None:
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError:
        return None


def read_request(annotations: Mapping[str, str], plan_name: str) -> UpgradeRequest | None:
    return _read(UpgradeRequest, annotations, request_key(plan_name))


def read_finish(annotations: Mapping[str, str], plan_name: str) -> UpgradeFinish | None:
    return _read(UpgradeFinish, annotations, finish_key(plan_name))


def read_outcome(annotations: Mapping[str, str], plan_name: str) -> UpgradeOutcome | None:
    """The agent's outcome, or None (absent or unreadable)."""
    return _read(UpgradeOutcome, annotations, outcome_key(plan_name))


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
    `outcome`: the finish's labels, the node's record complete at the hash (with no time:
    the rollout's times are the controller's clock, which stamps the record when it needs
    one), the request and the finish dropped. None unless the outcome is `Complete` for the
    request in flight (its record applying at the same hash) and a finish for that hash
    stands beside the request."""
    request = read_request(annotations, plan_name)
    finish = read_finish(annotations, plan_name)
    if outcome.phase != "Complete" or request is None or finish is None:
        return None
    if not outcome.hash == request.hash == finish.hash:
        return None
    record = read_record(dict(annotations), plan_name)
    if record is None or record.phase != "Applying" or record.hash != request.hash:
        return None
    done = record.model_copy(update={"phase": "Complete", "since": None})
    return {
        "metadata": {
            "labels": dict(finish.labels),
            "annotations": {
                node_record_key(plan_name): done.encode(),
                **request_dropped(plan_name),
            },
        }
    }


def agent_finished(
    before: Mapping[str, str], after: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """The plans whose request a write of a node's annotations from `before` to `after`
    finishes as their agent may (by plan name, with the labels each lets it set): each
    request in `before` with a finish for its hash beside it, both dropped by the write,
    which answers the request `Complete` at its hash with the record complete there."""
    finished: dict[str, dict[str, str]] = {}
    for key in before:
        if not key.startswith(REQUEST_PREFIX) or key in after:
            continue
        plan_name = key[len(REQUEST_PREFIX) :]
        try:
            if finish_key(plan_name) in after:
                continue
            request, finish = read_request(before, plan_name), read_finish(before, plan_name)
        except ValueError:  # not a plan name: no request of ours
            continue
        if request is None or finish is None or finish.hash != request.hash:
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
            finished[plan_name] = dict(finish.labels)
    return finished
