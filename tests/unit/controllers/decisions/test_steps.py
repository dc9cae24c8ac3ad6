"""The folded Node writes: when start and hand-over, and outcome and finish, are one patch,
and that every state a folded patch leaves is one the rollout reads correctly (a controller
restarted right after it carries on as after the unfolded steps)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from k3os.apis import read_record
from k3os.apis.handoff import UpgradeOutcome, outcome_key, read_request, request_key
from k3os.apis.keys import CORDONED_BY, done_label
from k3os.controllers.decisions import (
    NodeState,
    NodeView,
    begin_patch,
    classify_node,
    finish_patch,
    finishes_at_once,
    folds_handover,
    outcome_step,
    patch_changes,
    select_next_nodes,
    upgrade_request,
)
from tests.unit.controllers.decisions._build import NOW, OLD, PLAN, H, node, plan


def _apply(view: NodeView, patch: dict[str, Any]) -> NodeView:
    meta = patch.get("metadata", {})
    labels = {**view.labels, **meta.get("labels", {})}
    notes = {**view.annotations, **meta.get("annotations", {})}
    return NodeView(
        name=view.name,
        labels={k: v for k, v in labels.items() if v is not None},
        annotations={k: v for k, v in notes.items() if v is not None},
        conditions=view.conditions,
        unschedulable=patch.get("spec", {}).get("unschedulable", view.unschedulable),
        uid=view.uid,
    )


@pytest.mark.parametrize(
    ("spec", "folds"),
    [({}, True), ({"cordon": True}, False), ({"drain": {}}, False), ({"cordon": False}, True)],
)
def test_start_and_hand_over_fold_unless_the_plan_cordons_or_drains(
    spec: dict[str, Any], folds: bool
) -> None:
    p = plan(**spec)
    assert folds_handover(p) is folds
    patch, handed_over = begin_patch(p, node("a"), H, "v2", NOW)
    assert handed_over is folds
    annotations = patch["metadata"]["annotations"]
    assert annotations[outcome_key(PLAN)] is None  # the last run's answer goes
    assert json.loads(annotations[f"status.upgrade.k3os.io/{PLAN}"])["phase"] == "Applying"
    if folds:
        request = read_request(annotations, PLAN)
        assert request == upgrade_request(p, H, "v2")
        assert request.image == "https://bundles.example/k3os-v2.bundle"
        assert "spec" not in patch
    else:
        assert annotations[request_key(PLAN)] is None
        assert patch["spec"] == {"unschedulable": True}


def test_a_folded_start_is_in_flight_and_not_resumed() -> None:
    p = plan(concurrency=1)
    view = node("a")
    started = _apply(view, begin_patch(p, view, H, "v2", NOW)[0])
    assert classify_node(p, H, started, ["a"]) is NodeState.APPLYING
    decision = select_next_nodes(
        plan(concurrency=1, status={"applying": ["a"]}), [started, node("b")], NOW
    )
    assert decision.resume == () and decision.start == ()
    assert decision.applying == ("a",)


def test_outcome_and_finish_fold_when_healthy_without_a_delay() -> None:
    p = plan(cordon=True, postCompleteLabels={"k3os.io/version": "$(LATEST_VERSION)"})
    view = node("a")
    started = _apply(view, begin_patch(p, view, H, "v2", NOW)[0])
    started = _apply(started, {"metadata": {"annotations": {request_key(PLAN): "{}"}}})
    step = outcome_step(p, started, _outcome(), H, H, "v2", NOW)
    assert step.result == "Done"
    after = _apply(started, step.patch)
    record = read_record(dict(after.annotations), PLAN)
    assert record is not None and (record.phase, record.hash) == ("Complete", H)
    assert after.labels[done_label(PLAN)] == H
    assert after.labels["k3os.io/version"] == "v2"
    assert not after.unschedulable and CORDONED_BY not in after.annotations
    assert request_key(PLAN) not in after.annotations
    # still reserved (a crash before the status write): finished again with no write
    reserved = plan(cordon=True, status={"applying": ["a"]})
    assert classify_node(reserved, H, after, ["a"]) is NodeState.COMPLETE
    decision = select_next_nodes(reserved, [after], NOW)
    assert decision.finish == ("a",) and decision.applying == () and decision.complete
    obj = {
        "metadata": {"labels": dict(after.labels), "annotations": dict(after.annotations)},
        "spec": {},
    }
    assert not patch_changes(obj, finish_patch(reserved, after, H, "v2"))
    # and once the status has let it go, it is done
    assert classify_node(plan(cordon=True), H, after) is NodeState.DONE


def _outcome(phase: str = "Complete", hash_: str = H, **extra: str) -> UpgradeOutcome:
    return UpgradeOutcome(hash=hash_, phase=phase, version="v2", **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "ready", "record_hash"),
    [
        ({"postCompleteDelay": "5m"}, True, H),  # keeps its slot for the delay
        ({}, False, H),  # not healthy yet
        ({"healthGate": {"conditions": [{"type": "AppsHealthy", "status": "True"}]}}, True, H),
        ({}, True, OLD),  # an answer for an older hash: recorded, then started again
    ],
)
def test_outcome_alone_when_the_node_cannot_finish_yet(
    spec: dict[str, Any], ready: bool, record_hash: str
) -> None:
    p = plan(**spec)
    view = node("a", record="Applying", record_hash=record_hash, ready=ready)
    step = outcome_step(p, view, _outcome(hash_=record_hash), record_hash, H, "v2", NOW)
    assert step.result == "Complete"
    after = _apply(view, step.patch)
    assert done_label(PLAN) not in after.labels
    record = read_record(dict(after.annotations), PLAN)
    assert record is not None and (record.phase, record.hash) == ("Complete", record_hash)
    expected = NodeState.COMPLETE if record_hash == H else NodeState.APPLYING
    assert classify_node(p, H, after, ["a"]) is expected


def test_healthy_and_no_delay_is_what_finishing_at_once_needs() -> None:
    assert finishes_at_once(plan(), node("a"))
    assert finishes_at_once(plan(postCompleteDelay="0s"), node("a"))
    assert not finishes_at_once(plan(postCompleteDelay="1s"), node("a"))
    assert not finishes_at_once(plan(), node("a", ready=False))
    assert finishes_at_once(plan(healthGate={"ready": False}), node("a", ready=False))


def test_a_failed_outcome_is_recorded_with_the_agents_reason_and_keeps_the_cordon() -> None:
    p = plan(cordon=True)
    view = node("a", record="Applying", unschedulable=True, annotations={CORDONED_BY: "x/os"})
    step = outcome_step(
        p, view, _outcome("Failed", reason="RolledBack", message="m"), H, H, "v2", NOW
    )
    assert (step.result, step.reason, step.message) == ("Failed", "RolledBack", "m")
    after = _apply(view, step.patch)
    assert after.unschedulable and request_key(PLAN) not in after.annotations
    assert classify_node(p, H, after) is NodeState.FAILED
    bare = outcome_step(p, view, _outcome("Failed"), H, H, "v2", NOW)
    assert bare.reason == "UpgradeFailed" and "failed upgrade" in bare.message


def test_patch_changes() -> None:
    obj = {"metadata": {"labels": {"a": "1"}, "annotations": {"b": "2"}}, "spec": {}}
    assert not patch_changes(obj, {})
    assert not patch_changes(obj, {"metadata": {"labels": {"a": "1"}}})
    assert not patch_changes(obj, {"metadata": {"annotations": {"gone": None}}})
    assert patch_changes(obj, {"metadata": {"labels": {"a": "2"}}})
    assert patch_changes(obj, {"metadata": {"annotations": {"b": None}}})
    assert patch_changes(obj, {"spec": {"unschedulable": False}})
    assert patch_changes(obj, {"status": {"x": {"y": 1}}})
    assert patch_changes({"metadata": "odd"}, {"metadata": {"labels": {}}})
