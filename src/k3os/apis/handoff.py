"""The hand-off between the Plan controller and a node's agent, as two Node annotations.

Once a node is cordoned and drained, the controller writes the *request*
`request.upgrade.k3os.io/<plan>`: which hash, version and image (bundle reference) to run.
The agent carries it out (stage, reboot, health check, commit or fall back) and answers
with the *outcome* `outcome.upgrade.k3os.io/<plan>` for that hash: `Complete` with the
version it booted, or `Failed` with why (a rollback says so). The controller turns the
outcome into the node's record (`status.upgrade.k3os.io/<plan>`) and drops the request.
An agent acts on a request only while no outcome for the same hash exists, so a restart
or a repeated watch event never runs an upgrade twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal

from pydantic import ValidationError

from k3os.apis.keys import OUTCOME_PREFIX, REQUEST_PREFIX, _per_plan
from k3os.apis.meta import ApiModel

__all__ = [
    "OUTCOME_PREFIX",
    "REQUEST_PREFIX",
    "UpgradeOutcome",
    "UpgradeRequest",
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


class UpgradeRequest(ApiModel):
    """Written by the controller: run `image` (version `version`) for the plan's `hash`."""

    plan: str
    """`<namespace>/<name>` of the Plan."""
    hash: str
    version: str
    image: str

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
