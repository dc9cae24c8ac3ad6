"""The Node patches behind start, complete, finish and fail."""

from __future__ import annotations

import json

from k3os.apis import PlanStatus, read_record
from k3os.apis.keys import CORDONED_BY, done_label, node_record_key
from k3os.controllers.decisions import (
    NodeState,
    classify_node,
    complete_patch,
    fail_patch,
    finish_patch,
    merge_patches,
    select_next_nodes,
    start_patch,
)
from k3os.controllers.decisions.nodes import NodeView
from tests.unit.controllers.decisions._build import NOW, PLAN, H, node, plan

OWNER = "k3os-system/os"


def _apply(view: NodeView, patch: dict[str, object]) -> NodeView:
    """Apply a merge patch's labels, annotations and unschedulable to a NodeView."""
    meta = patch.get("metadata", {})
    assert isinstance(meta, dict)
    labels = {**view.labels, **meta.get("labels", {})}
    notes = {**view.annotations, **meta.get("annotations", {})}
    spec = patch.get("spec", {})
    assert isinstance(spec, dict)
    return NodeView(
        name=view.name,
        labels={k: v for k, v in labels.items() if v is not None},
        annotations={k: v for k, v in notes.items() if v is not None},
        conditions=view.conditions,
        unschedulable=spec.get("unschedulable", view.unschedulable),
    )


def test_merge_patches() -> None:
    assert merge_patches({"a": {"b": 1}}, None, {"a": {"c": 2}, "d": 3}, {"d": 4}) == {
        "a": {"b": 1, "c": 2},
        "d": 4,
    }


def test_a_full_successful_run() -> None:
    p = plan(
        drain={}, postCompleteLabels={"k3os.io/version": "$(LATEST_VERSION)", "h": "$(LATEST_HASH)"}
    )
    view = node("a")
    started = _apply(view, start_patch(p, view, H, NOW))
    assert started.unschedulable
    assert started.annotations[CORDONED_BY] == OWNER
    assert classify_node(p, H, started) is NodeState.APPLYING
    done = _apply(started, complete_patch(p, started, H, NOW))
    assert classify_node(p, H, done) is NodeState.COMPLETE
    finished = _apply(done, finish_patch(p, done, H, "v2"))
    assert finished.labels[done_label(PLAN)] == H
    assert finished.labels["k3os.io/version"] == "v2"
    assert finished.labels["h"] == H
    assert not finished.unschedulable
    assert CORDONED_BY not in finished.annotations
    assert classify_node(p, H, finished) is NodeState.DONE


def test_start_without_cordon_only_records() -> None:
    patch = start_patch(plan(), node("a"), H, NOW)
    assert "spec" not in patch
    assert list(patch["metadata"]["annotations"]) == [node_record_key(PLAN)]


def test_a_failed_upgrade_stays_cordoned_and_is_not_retried_until_asked() -> None:
    p = plan(cordon=True)
    view = node("a", retry="1")  # an earlier retry token is already there
    started = _apply(view, start_patch(p, view, H, NOW))
    failed = _apply(
        started,
        fail_patch(
            p, started, H, NOW, reason="RolledBack", message="health check failed", os_touched=True
        ),
    )
    assert failed.unschedulable
    record = read_record(dict(failed.annotations), PLAN)
    assert record is not None
    assert (record.phase, record.reason, record.retry) == ("Failed", "RolledBack", "1")
    assert classify_node(p, H, failed) is NodeState.FAILED
    decision = select_next_nodes(p, [failed, node("b")], NOW)
    assert decision.halted
    assert decision.start == ()
    retried = NodeView(
        name="a",
        labels=failed.labels,
        annotations={**failed.annotations, "retry.upgrade.k3os.io/os": "2"},
    )
    assert classify_node(p, H, retried) is NodeState.PENDING


def test_a_failed_drain_uncordons_what_we_cordoned() -> None:
    p = plan(drain={})
    view = node("a")
    started = _apply(view, start_patch(p, view, H, NOW))
    failed = _apply(
        started, fail_patch(p, started, H, NOW, reason="DrainTimeout", message="", os_touched=False)
    )
    assert not failed.unschedulable
    assert CORDONED_BY not in failed.annotations


def test_failing_a_node_removes_its_done_label_at_this_hash() -> None:
    view = node("a", done=H)
    patch = fail_patch(
        plan(), view, H, NOW, reason="HealthGateTimeout", message="m", os_touched=True
    )
    assert patch["metadata"]["labels"] == {done_label(PLAN): None}
    assert json.loads(patch["metadata"]["annotations"][node_record_key(PLAN)])["phase"] == "Failed"


def test_plan_status_from_a_decision() -> None:
    p = plan(concurrency=2)
    decision = select_next_nodes(p, [node("a"), node("b", record="Failed")], NOW)
    status = decision.plan_status(PlanStatus(), "v2", NOW)
    assert status.latest_version == "v2"
    assert status.latest_hash == H
    assert status.failed == ["b"]
    assert {c.type for c in status.conditions} == {"Complete", "Halted"}
