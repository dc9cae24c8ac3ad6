"""The folded Node writes: when start and hand-over, and outcome and finish, are one patch,
and that every state a folded patch leaves is one the rollout reads correctly (a controller
restarted right after it carries on as after the unfolded steps)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from k3os.apis import NodeUpgradeRecord, read_record
from k3os.apis.handoff import (
    UpgradeFinish,
    UpgradeOutcome,
    agent_finish,
    agent_finished,
    finish_key,
    outcome_key,
    read_finish,
    read_request,
    request_key,
)
from k3os.apis.keys import CORDONED_BY, done_label, node_record_key
from k3os.controllers.decisions import (
    NodeState,
    NodeView,
    agent_finish_of,
    agent_finishes,
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
        finish = UpgradeFinish(hash=H, labels={done_label(PLAN): H})  # nothing left to decide
        assert read_finish(annotations, PLAN) == finish
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


@pytest.mark.parametrize(
    ("spec", "labels"),
    [
        ({}, {done_label(PLAN): H}),
        (
            {"postCompleteLabels": {"k3os.io/release": "$(LATEST_VERSION)"}},
            {done_label(PLAN): H, "k3os.io/release": "v2"},
        ),
        ({"healthGate": {"ready": False}}, {done_label(PLAN): H}),
        ({"postCompleteDelay": "5m"}, None),  # the controller keeps the slot for the delay
        ({"healthGate": {"conditions": [{"type": "AppsHealthy", "status": "True"}]}}, None),
        ({"canary": {"nodes": 1}}, None),  # its delay counts from the done nodes' times
        ({"cordon": True}, None),  # no request in the start's write at all
    ],
)
def test_a_plan_with_nothing_left_to_decide_hands_the_finish_to_the_agent(
    spec: dict[str, Any], labels: dict[str, str] | None
) -> None:
    p = plan(**spec)
    assert agent_finishes(p) is (labels is not None)
    patch, handed_over = begin_patch(p, node("a"), H, "v2", NOW)
    annotations = patch["metadata"]["annotations"]
    finish = read_finish(annotations, PLAN)
    assert (read_request(annotations, PLAN) is not None) is handed_over
    assert (finish.labels if finish else None) == labels
    if finish is not None:
        assert finish.hash == H
    else:  # a finish of an earlier run does not stay
        assert annotations[finish_key(PLAN)] is None


def test_a_cordon_of_ours_left_on_the_node_keeps_the_finish_with_the_controller() -> None:
    """The plan stopped cordoning while the node still carries our cordon: only the
    controller can undo it, so it finishes the node itself."""
    p = plan()
    ours = node("a", unschedulable=True, annotations={CORDONED_BY: f"k3os-system/{PLAN}"})
    assert agent_finish_of(p, ours, H, "v2") is None
    assert agent_finish_of(p, node("a"), H, "v2") is not None


def test_the_agents_finish_leaves_the_node_as_the_controllers_take_would() -> None:
    p = plan(postCompleteLabels={"k3os.io/release": "$(LATEST_VERSION)"})
    view = node("a")
    started = _apply(view, begin_patch(p, view, H, "v2", NOW)[0])
    finish = agent_finish(started.annotations, PLAN, _outcome())
    assert finish is not None
    answered = _apply(
        started,
        {"metadata": {"annotations": {outcome_key(PLAN): _outcome().encode()}}},
    )
    by_agent = _apply(answered, finish)
    by_controller = _apply(answered, outcome_step(p, answered, _outcome(), H, H, "v2", NOW).patch)
    assert by_agent.labels == by_controller.labels
    assert set(by_agent.annotations) == set(by_controller.annotations)
    record = read_record(dict(by_agent.annotations), PLAN)
    assert record is not None and (record.phase, record.hash) == ("Complete", H)
    assert record.since is None  # the controller's clock stamps it if it needs a time
    # the admission's reading of that write: the request it drops, and the labels it may set
    assert agent_finished(started.annotations, by_agent.annotations) == {
        PLAN: {done_label(PLAN): H, "k3os.io/release": "v2"}
    }
    assert finish_key(PLAN) not in by_agent.annotations
    # still reserved: the pass frees the slot with no write, then the node is done
    reserved = plan(status={"applying": ["a"]})
    assert classify_node(reserved, H, by_agent, ["a"]) is NodeState.COMPLETE
    decision = select_next_nodes(reserved, [by_agent], NOW)
    assert decision.finish == ("a",) and decision.applying == () and decision.stamp == ()
    obj = {"metadata": {"labels": dict(by_agent.labels), "annotations": dict(by_agent.annotations)}}
    assert not patch_changes(obj, finish_patch(reserved, by_agent, H, "v2"))
    assert classify_node(p, H, by_agent) is NodeState.DONE


@pytest.mark.parametrize(
    ("spec", "ready"),
    [({}, False), ({"postCompleteDelay": "5m"}, True)],
)
def test_an_agents_finish_the_node_cannot_pass_yet_gets_the_controllers_time(
    spec: dict[str, Any], ready: bool
) -> None:
    """Unhealthy after its agent finished it (or a delay added to the plan since): the
    record gets a time from the controller's clock, and the gate's timeout (or the delay)
    counts from there."""
    p = plan(status={"applying": ["a"]}, healthGate={"timeout": "10m"}, **spec)
    view = node("a", record="Complete", ready=ready, done=H)
    timeless = _apply(view, {"metadata": {"annotations": complete_record(H, since=None)}})
    decision = select_next_nodes(p, [timeless], NOW)
    assert decision.stamp == ("a",) and decision.finish == () and decision.fail == ()
    assert decision.applying == ("a",)  # keeps its slot meanwhile
    stamped = _apply(timeless, {"metadata": {"annotations": complete_record(H, since=NOW)}})
    later = select_next_nodes(p, [stamped], NOW + timedelta(minutes=11))
    assert later.stamp == ()
    assert later.fail if not ready else later.finish == ("a",)


def test_the_agent_finishes_only_a_complete_answer_to_the_request_in_flight() -> None:
    p = plan()
    view = node("a")
    started = _apply(view, begin_patch(p, view, H, "v2", NOW)[0])
    assert agent_finish(started.annotations, PLAN, _outcome("Failed")) is None
    assert agent_finish(started.annotations, PLAN, _outcome(hash_=OLD)) is None
    assert agent_finish(view.annotations, PLAN, _outcome()) is None  # no request
    undelegated = _apply(view, begin_patch(plan(postCompleteDelay="5m"), view, H, "v2", NOW)[0])
    assert agent_finish(undelegated.annotations, PLAN, _outcome()) is None
    recorded = _apply(started, {"metadata": {"annotations": dict(complete_record(H))}})
    assert agent_finish(recorded.annotations, PLAN, _outcome()) is None  # taken already


def complete_record(hash_: str, since: datetime | None = NOW) -> dict[str, str]:
    record = NodeUpgradeRecord(hash=hash_, phase="Complete", since=since)
    return {node_record_key(PLAN): record.encode()}
