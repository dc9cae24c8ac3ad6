"""The hand-off annotations: what each side reads, and what it reads past."""

from __future__ import annotations

import json

from k3os.apis import NodeUpgradeRecord
from k3os.apis.handoff import (
    UpgradeFinish,
    UpgradeOutcome,
    UpgradeRequest,
    agent_finish,
    finish_key,
    read_finish,
    read_outcome,
    read_request,
    request_key,
)
from k3os.apis.keys import node_record_key


def test_a_field_a_newer_version_adds_does_not_hide_a_request_or_an_answer() -> None:
    """Controller and agents run different versions across a fleet's upgrade: unknown
    fields are read past, not a reason to ignore the request."""
    request = {"plan": "ns/p", "hash": "h", "version": "v2", "image": "i", "later": {"x": 1}}
    outcome = {"hash": "h", "phase": "Complete", "later": True}
    finish = {"hash": "h", "labels": {"plan.upgrade.cattle.io/p": "h"}, "later": 1}
    notes = {
        request_key("p"): json.dumps(request),
        "outcome.upgrade.k3os.io/p": json.dumps(outcome),
        finish_key("p"): json.dumps(finish),
    }
    assert read_request(notes, "p") == UpgradeRequest(
        plan="ns/p", hash="h", version="v2", image="i"
    )
    assert read_outcome(notes, "p") == UpgradeOutcome(hash="h", phase="Complete")
    assert read_finish(notes, "p") == UpgradeFinish(hash="h", labels=finish["labels"])
    assert read_finish({finish_key("p"): "{not json"}, "p") is None
    assert read_finish({}, "p") is None


def test_a_finish_left_from_another_run_is_not_the_agents_to_write() -> None:
    request = UpgradeRequest(plan="ns/p", hash="h2", version="v2", image="i")
    stale = UpgradeFinish(hash="h1", labels={"plan.upgrade.cattle.io/p": "h1"})
    notes = {
        request_key("p"): request.encode(),
        finish_key("p"): stale.encode(),
        node_record_key("p"): NodeUpgradeRecord(hash="h2", phase="Applying").encode(),
    }
    answer = UpgradeOutcome(hash="h2", phase="Complete")
    assert agent_finish(notes, "p", answer) is None
    notes[finish_key("p")] = UpgradeFinish(hash="h2", labels={}).encode()
    assert agent_finish(notes, "p", answer) is not None
