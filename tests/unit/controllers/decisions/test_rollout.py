"""select_next_nodes: the rollout's every rule, as tables of cases and as properties."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k3os.apis import Condition
from k3os.apis.keys import CANARY_APPROVED, node_record_key
from k3os.controllers.decisions import (
    NodeState,
    NodeView,
    PlanNodes,
    Taint,
    classify_node,
    select_next_nodes,
)
from tests.unit.controllers.decisions._build import NOW, OLD, PLAN, H, node, plan

PENDING5 = [node(f"n{i}") for i in range(5)]


def test_concurrency_one_starts_one_node_in_a_stable_order() -> None:
    decision = select_next_nodes(plan(), PENDING5, NOW)
    assert len(decision.start) == 1
    assert decision.applying == decision.start
    assert decision.reason == "Applying"
    assert not decision.complete
    again = select_next_nodes(plan(), list(reversed(PENDING5)), NOW)
    assert again.start == decision.start
    assert decision.counts["Pending"] == 5


def test_free_slots_are_filled_and_in_flight_nodes_keep_theirs() -> None:
    nodes = [node("busy", record="Applying"), *PENDING5]
    decision = select_next_nodes(plan(concurrency=3), nodes, NOW)
    assert len(decision.start) == 2
    assert "busy" not in decision.start
    assert set(decision.applying) == {"busy", *decision.start}


def test_concurrency_zero_starts_nothing() -> None:
    decision = select_next_nodes(plan(concurrency=0), PENDING5, NOW)
    assert decision.start == ()
    assert decision.reason == "Waiting"


@pytest.mark.parametrize(
    ("view", "state"),
    [
        (node("a"), NodeState.PENDING),
        (node("a", labels={}), NodeState.IGNORED),
        (node("a", done="disabled"), NodeState.DISABLED),
        (node("a", done=H), NodeState.DONE),
        (node("a", done=OLD), NodeState.PENDING),
        (node("a", record="Applying"), NodeState.APPLYING),
        (node("a", record="Applying", record_hash=OLD), NodeState.APPLYING),
        (node("a", labels={}, record="Applying"), NodeState.APPLYING),
        (node("a", record="Complete", since=timedelta(0)), NodeState.COMPLETE),
        (node("a", record="Complete", done=H), NodeState.DONE),
        (node("a", record="Complete", record_hash=OLD, done=OLD), NodeState.PENDING),
        (node("a", record="Failed"), NodeState.FAILED),
        (node("a", record="Failed", done=H), NodeState.FAILED),
        (node("a", record="Failed", retry="1"), NodeState.PENDING),
        (node("a", record="Failed", record_retry="1", retry="1"), NodeState.FAILED),
        (node("a", record="Failed", record_retry="1", retry="2"), NodeState.PENDING),
        (node("a", record="Failed", record_hash=OLD), NodeState.PENDING),
        (node("a", record="Failed", record_hash=None), NodeState.FAILED),
        (node("a", record="Failed", labels={}), NodeState.IGNORED),
        (node("a", record="Failed", done="disabled"), NodeState.DISABLED),
        (node("a", annotations={node_record_key(PLAN): "garbage"}), NodeState.FAILED),
        (node("a", taints=(Taint("dedicated", "db"),)), NodeState.BLOCKED),
        (node("a", taints=(Taint("dedicated", "db", "PreferNoSchedule"),)), NodeState.PENDING),
        (node("a", taints=(Taint("node.kubernetes.io/unschedulable"),)), NodeState.PENDING),
    ],
)
def test_classify(view: NodeView, state: NodeState) -> None:
    assert classify_node(plan(), H, view) is state


def test_classify_status_applying_without_a_record_is_in_flight() -> None:
    assert classify_node(plan(), H, node("a"), applying={"a"}) is NodeState.APPLYING
    assert (
        classify_node(plan(), H, node("a", done=H, record="Complete"), {"a"}) is NodeState.COMPLETE
    )


@pytest.mark.parametrize(
    ("view", "state", "resume"),
    [
        (node("a"), NodeState.APPLYING, True),
        (node("a", record="Applying"), NodeState.APPLYING, False),
        (node("a", record="Complete", record_hash=OLD, done=OLD), NodeState.APPLYING, True),
        (node("a", record="Failed", retry="again"), NodeState.APPLYING, True),
        (node("a", record="Failed"), NodeState.FAILED, False),
        (node("a", record="Complete", since=timedelta(hours=1)), NodeState.DONE, False),
    ],
)
def test_reserved_nodes_are_resumed_until_recorded(
    view: NodeView, state: NodeState, resume: bool
) -> None:
    """Two-phase start: status.applying first, then the node's record; a crash in between
    leaves a reserved node that the next decision resumes instead of starting another."""
    decision = select_next_nodes(
        plan(maxFailures=2, status={"applying": ["a"]}), [view, node("b")], NOW
    )
    assert decision.states["a"] is state
    assert ("a" in decision.resume) is resume
    if state is NodeState.APPLYING:
        assert decision.start == ()


def test_tolerated_taints_let_the_plan_through() -> None:
    tainted = node("cp", taints=(Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"),))
    tolerant = plan(
        tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]
    )
    assert classify_node(plan(), H, tainted) is NodeState.BLOCKED
    assert classify_node(tolerant, H, tainted) is NodeState.PENDING
    decision = select_next_nodes(plan(), [tainted], NOW)
    assert (decision.reason, decision.complete) == ("Blocked", False)


def test_plan_without_selector_touches_nothing() -> None:
    decision = select_next_nodes(plan(nodeSelector=None), PENDING5, NOW)
    assert decision.start == ()
    assert decision.complete
    assert set(decision.states.values()) == {NodeState.IGNORED}


def test_never_picks_done_disabled_failed_or_unselected_nodes() -> None:
    nodes = [
        node("done", done=H),
        node("off", done="disabled"),
        node("failed", record="Failed"),
        node("other", labels={}),
        node("todo"),
    ]
    decision = select_next_nodes(plan(concurrency=10, maxFailures=5), nodes, NOW)
    assert decision.start == ("todo",)
    assert decision.failed == ("failed",)


def test_one_failure_halts_by_default_with_a_clear_condition() -> None:
    nodes = [node("bad", record="Failed"), *PENDING5]
    decision = select_next_nodes(plan(concurrency=3), nodes, NOW)
    assert decision.halted
    assert decision.start == ()
    assert decision.reason == "FailureBudgetExhausted"
    assert "bad" in decision.message
    assert "retry.upgrade.k3os.io/os=<new value>" in decision.message
    conditions = {c.type: c for c in decision.conditions([], NOW)}
    assert conditions["Halted"].status == "True"
    assert conditions["Halted"].reason == "FailureBudgetExhausted"
    assert conditions["Complete"].status == "False"


def test_failures_below_the_budget_do_not_halt() -> None:
    nodes = [node("bad", record="Failed"), *PENDING5]
    decision = select_next_nodes(plan(maxFailures=2), nodes, NOW)
    assert not decision.halted
    assert len(decision.start) == 1
    assert decision.failed == ("bad",)


def test_a_retried_node_goes_again_and_a_changed_plan_resets_the_budget() -> None:
    retried = select_next_nodes(plan(), [node("bad", record="Failed", retry="now")], NOW)
    assert retried.start == ("bad",)
    new_hash = select_next_nodes(plan(), [node("bad", record="Failed", record_hash=OLD)], NOW)
    assert new_hash.start == ("bad",)
    again = select_next_nodes(
        plan(), [node("bad", record="Failed", record_retry="now", retry="now")], NOW
    )
    assert again.start == ()
    assert again.halted


def test_a_failed_node_leaves_status_applying() -> None:
    decision = select_next_nodes(
        plan(maxFailures=3, status={"applying": ["bad"]}),
        [node("bad", record="Failed"), node("x")],
        NOW,
    )
    assert decision.applying == ("x",)
    assert decision.failed == ("bad",)


def test_paused_starts_nothing_but_in_flight_work_goes_on() -> None:
    nodes = [node("busy", record="Applying"), *PENDING5]
    decision = select_next_nodes(plan(paused=True, concurrency=3), nodes, NOW)
    assert decision.start == ()
    assert decision.applying == ("busy",)
    assert decision.reason == "Paused"


def test_outside_the_window_it_waits_and_says_when() -> None:
    window = {"startTime": "02:00", "endTime": "04:00"}
    decision = select_next_nodes(plan(window=window), PENDING5, NOW)
    assert decision.start == ()
    assert decision.reason == "Waiting"
    assert decision.requeue_after == timedelta(hours=14)
    inside = select_next_nodes(plan(window=window), PENDING5, NOW.replace(hour=3))
    assert len(inside.start) == 1


def test_an_unhealthy_upgraded_node_holds_the_next_batch() -> None:
    nodes = [node("up", done=H, ready=False), *PENDING5]
    decision = select_next_nodes(plan(), nodes, NOW)
    assert decision.start == ()
    assert decision.reason == "HealthGate"
    assert "up" in decision.message
    assert "Ready is False" in decision.message
    ungated = select_next_nodes(plan(healthGate={"ready": False}), nodes, NOW)
    assert len(ungated.start) == 1


def test_health_gate_extra_conditions() -> None:
    gate = {"conditions": [{"type": "AppsHealthy"}]}
    sick = [node("up", done=H, conditions={"AppsHealthy": "False"}), *PENDING5]
    well = [node("up", done=H, conditions={"AppsHealthy": "True"}), *PENDING5]
    held = select_next_nodes(plan(healthGate=gate), sick, NOW)
    assert held.reason == "HealthGate"
    assert "AppsHealthy is False, want True" in held.message
    assert len(select_next_nodes(plan(healthGate=gate), well, NOW).start) == 1


@pytest.mark.parametrize(
    ("spec", "view", "finished", "failed", "requeue"),
    [
        ({}, node("c", record="Complete", since=timedelta(0)), True, False, None),
        (
            {"postCompleteDelay": "5m"},
            node("c", record="Complete", since=timedelta(minutes=2)),
            False,
            False,
            timedelta(minutes=3),
        ),
        (
            {"postCompleteDelay": "5m"},
            node("c", record="Complete", since=timedelta(minutes=6)),
            True,
            False,
            None,
        ),
        (
            {},
            node("c", record="Complete", since=timedelta(minutes=1), ready=False),
            False,
            False,
            None,
        ),
        (
            {"healthGate": {"timeout": "10m"}},
            node("c", record="Complete", since=timedelta(minutes=4), ready=False),
            False,
            False,
            timedelta(minutes=6),
        ),
        (
            {"healthGate": {"timeout": "10m"}},
            node("c", record="Complete", since=timedelta(minutes=10), ready=False),
            False,
            True,
            None,
        ),
        ({}, node("c", record="Complete"), True, False, None),
    ],
)
def test_completed_nodes_finish_after_delay_and_health(
    spec: dict[str, Any], view: NodeView, finished: bool, failed: bool, requeue: timedelta | None
) -> None:
    decision = select_next_nodes(plan(status={"applying": ["c"]}, **spec), [view], NOW)
    assert (decision.finish == ("c",)) is finished
    assert bool(decision.fail) is failed
    assert decision.requeue_after == requeue
    if failed:
        assert decision.fail[0].reason == "HealthGateTimeout"
        assert "Ready is False" in decision.fail[0].message
        assert decision.halted
    if finished:
        assert decision.applying == ()
        assert decision.complete
        assert decision.reason == "Complete"
    if not finished and not failed:
        assert decision.applying == ("c",)


def test_a_finished_node_frees_its_slot_in_the_same_step() -> None:
    nodes = [node("c", record="Complete", since=timedelta(minutes=1)), *PENDING5]
    decision = select_next_nodes(plan(status={"applying": ["c"]}), nodes, NOW)
    assert decision.finish == ("c",)
    assert len(decision.start) == 1
    assert "c" not in decision.applying


def test_canary_upgrades_n_nodes_then_waits_for_approval() -> None:
    canary = {"nodes": 2}
    fresh = [node(f"n{i}") for i in range(10)]
    first = select_next_nodes(plan(concurrency=5, canary=canary), fresh, NOW)
    assert len(first.start) == 2
    one_done = [node("n0", done=H), node("n1", record="Applying"), *fresh[2:]]
    assert select_next_nodes(plan(concurrency=5, canary=canary), one_done, NOW).start == ()
    one_failed_retry = [node("n0", done=H), *fresh[2:]]
    assert (
        len(select_next_nodes(plan(concurrency=5, canary=canary), one_failed_retry, NOW).start) == 1
    )
    both = [node("n0", done=H), node("n1", done=H), *fresh[2:]]
    held = select_next_nodes(plan(concurrency=5, canary=canary), both, NOW)
    assert held.start == ()
    assert held.reason == "CanaryWaiting"
    assert f"{CANARY_APPROVED}={H}" in held.message
    stale = plan(concurrency=5, canary=canary, annotations={CANARY_APPROVED: OLD})
    assert select_next_nodes(stale, both, NOW).start == ()
    approved = plan(concurrency=5, canary=canary, annotations={CANARY_APPROVED: H})
    assert len(select_next_nodes(approved, both, NOW).start) == 5


def test_canary_with_a_delay_goes_on_by_itself() -> None:
    canary = {"nodes": 2, "delay": "1h"}
    rest = [node(f"n{i}") for i in range(2, 6)]

    def canaries(first: timedelta, second: timedelta) -> list[NodeView]:
        return [
            node("n0", done=H, record="Complete", since=first),
            node("n1", done=H, record="Complete", since=second),
        ]

    early = select_next_nodes(
        plan(canary=canary), [*canaries(timedelta(hours=2), timedelta(minutes=20)), *rest], NOW
    )
    assert early.start == ()
    assert early.reason == "CanaryWaiting"
    assert early.requeue_after == timedelta(minutes=40)
    later = select_next_nodes(
        plan(canary=canary), [*canaries(timedelta(hours=2), timedelta(hours=1)), *rest], NOW
    )
    assert len(later.start) == 1
    # once past, more completions do not close the gate again
    more = [
        *canaries(timedelta(hours=3), timedelta(hours=2)),
        node("n2", done=H, record="Complete", since=timedelta(0)),
    ]
    assert len(select_next_nodes(plan(canary=canary), [*more, *rest[1:]], NOW).start) == 1
    # canaries done without records (e.g. labelled by SUC) count as long done
    unrecorded = [node("n0", done=H), node("n1", done=H), *rest]
    assert len(select_next_nodes(plan(canary=canary), unrecorded, NOW).start) == 1


def test_canary_gate_is_moot_when_nothing_is_left() -> None:
    decision = select_next_nodes(
        plan(canary={"nodes": 2}), [node("n0", done=H), node("n1", done=H)], NOW
    )
    assert decision.complete
    assert decision.reason == "Complete"


def test_exclusive_plans_skip_nodes_busy_with_another() -> None:
    nodes = [node("a"), node("b")]
    decision = select_next_nodes(plan(exclusive=True, concurrency=2), nodes, NOW, busy={"a"})
    assert decision.start == ("b",)
    shared = select_next_nodes(plan(concurrency=2), nodes, NOW, busy={"a"})
    assert set(shared.start) == {"a", "b"}


def test_crash_between_record_and_status_does_not_overshoot() -> None:
    nodes = [node("a", record="Applying"), node("b", record="Applying"), *PENDING5]
    decision = select_next_nodes(plan(concurrency=2), nodes, NOW)
    assert decision.start == ()
    assert set(decision.applying) == {"a", "b"}


def test_node_dropped_from_selection_mid_upgrade_is_kept_in_flight() -> None:
    decision = select_next_nodes(
        plan(status={"applying": ["a"]}), [node("a", labels={}, record="Applying")], NOW
    )
    assert decision.applying == ("a",)


def test_everything_done_is_complete() -> None:
    decision = select_next_nodes(plan(), [node("a", done=H), node("b", done="disabled")], NOW)
    assert decision.complete
    conditions = {
        c.type: c for c in decision.conditions([Condition(type="Complete", status="False")], NOW)
    }
    assert conditions["Complete"].status == "True"
    assert conditions["Halted"].status == "False"


def test_failures_within_budget_with_nothing_left_are_reported() -> None:
    decision = select_next_nodes(
        plan(maxFailures=2), [node("a", done=H), node("b", record="Failed")], NOW
    )
    assert not decision.complete
    assert decision.reason == "NodesFailed"


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="time zone"):
        select_next_nodes(plan(), [], NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="no resolved hash"):
        select_next_nodes(plan(status={"latestHash": None}), [], NOW)
    assert select_next_nodes(plan(status={"latestHash": None}), [], NOW, latest_hash=H).complete


def test_from_node_reads_an_api_object() -> None:
    view = NodeView.from_node(
        {
            "metadata": {"name": "n", "uid": "u", "labels": {"a": "b"}, "annotations": {"x": "y"}},
            "spec": {"unschedulable": True, "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "lastTransitionTime": "2026-03-02T11:00:00Z",
                    },
                    {"type": "DiskPressure", "status": "False"},
                ]
            },
        }
    )
    assert view.ready
    assert view.unschedulable
    assert view.taints == (Taint("k", "", "NoSchedule"),)
    assert view.conditions["DiskPressure"] == "False"
    assert view.ready_since == NOW - timedelta(hours=1)
    assert not NodeView.from_node({}).ready


# ---- properties -------------------------------------------------------------------------

_KINDS = [
    "pending",
    "done",
    "old",
    "disabled",
    "ignored",
    "failed",
    "retried",
    "applying",
    "complete",
    "unready",
]


def _make(kind: str, name: str) -> NodeView:
    return {
        "pending": lambda: node(name),
        "done": lambda: node(name, done=H),
        "old": lambda: node(name, done=OLD),
        "disabled": lambda: node(name, done="disabled"),
        "ignored": lambda: node(name, labels={}),
        "failed": lambda: node(name, record="Failed"),
        "retried": lambda: node(name, record="Failed", retry="x"),
        "applying": lambda: node(name, record="Applying"),
        "complete": lambda: node(name, record="Complete", since=timedelta(0), ready=False),
        "unready": lambda: node(name, ready=False),
    }[kind]()


fleets = st.lists(st.sampled_from(_KINDS), max_size=30).map(
    lambda kinds: [_make(kind, f"n{i:02d}") for i, kind in enumerate(kinds)]
)


@settings(max_examples=300, deadline=None)
@given(
    nodes=fleets,
    concurrency=st.integers(0, 6),
    max_failures=st.integers(1, 4),
    canary=st.one_of(st.none(), st.integers(1, 4)),
    paused=st.booleans(),
)
def test_rollout_invariants(
    nodes: list[NodeView], concurrency: int, max_failures: int, canary: int | None, paused: bool
) -> None:
    spec: dict[str, Any] = {
        "concurrency": concurrency,
        "maxFailures": max_failures,
        "paused": paused,
    }
    if canary is not None:
        spec["canary"] = {"nodes": canary}
    p = plan(**spec)
    decision = select_next_nodes(p, nodes, NOW)
    before = {n.name: classify_node(p, H, n) for n in nodes}
    for name in decision.start:
        assert before[name] is NodeState.PENDING
    if decision.start:
        assert len(decision.applying) <= concurrency
        assert not paused and not decision.halted
    if decision.halted:
        assert decision.start == ()
        assert len(decision.failed) >= max_failures
    assert len(set(decision.applying)) == len(decision.applying)
    # Carrying the decision out and deciding again never overshoots and never restarts a node.
    p2 = plan(**spec, status={"applying": list(decision.applying)})
    again = select_next_nodes(p2, nodes, NOW)
    assert not set(again.start) & set(decision.start)
    assert set(decision.start) <= set(again.resume) <= set(decision.applying)
    if again.start:
        assert len(again.applying) <= concurrency


def _with_generation(p: Any, generation: int, **spec: Any) -> Any:
    built = plan(**spec)
    return built.model_copy(
        update={"metadata": built.metadata.model_copy(update={"generation": generation})}
    )


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 7)), min_size=1, max_size=40))
def test_plan_nodes_kept_between_passes_decide_as_the_whole_fleet(
    steps: list[tuple[int, int]],
) -> None:
    """Whatever changes between passes (a node, its health, its deletion, the plan's spec
    and generation, its hash, the reserved nodes), `PlanNodes` given only what changed
    decides as select_next_nodes over the whole fleet, and classifies as classify_node."""
    variants = [
        lambda n: node(n),
        lambda n: node(n, record="Applying"),
        lambda n: node(n, record="Complete"),
        lambda n: node(n, done=H),
        lambda n: node(n, labels={}),
        lambda n: node(n, taints=(Taint("k", "v", "NoSchedule"),)),
        lambda n: node(n, done=H, ready=False),
        lambda n: node(n, record="Complete", ready=False),
    ]
    names = [f"n{i}" for i in range(5)]
    views = {n: variants[0](n) for n in names}
    current = _with_generation(plan(concurrency=2), 1)
    latest = H
    kept = PlanNodes()
    kept.sync(current, latest, list(views.values()))
    for who, what in steps:
        name = names[who]
        changed, gone = [], []
        if what < 3:
            views[name] = variants[(what * 3 + who) % len(variants)](name)
            changed.append(views[name])
        elif what == 3:  # a spec change: the selector wants a label no node has, or a gate
            generation = (current.metadata.generation or 0) + 1
            spec = (
                {"nodeSelector": {"matchLabels": {"tier": "edge"}}}
                if generation % 2 == 0
                else {"healthGate": {"timeout": "1m"}}
            )
            current = _with_generation(current, generation, concurrency=2, **spec)
        elif what == 4:
            latest = OLD if latest == H else H
        elif what == 5 and name in views:
            del views[name]
            gone.append(name)
        elif what == 6 and name not in views:
            views[name] = variants[who % len(variants)](name)
            changed.append(views[name])
        else:
            applying = set(current.status.applying) ^ {name}
            current = current.model_copy(
                update={"status": current.status.model_copy(update={"applying": sorted(applying)})}
            )
        kept.sync(current, latest, changed, gone)
        applying = set(current.status.applying)
        assert kept.states == {
            n: classify_node(current, latest, v, applying) for n, v in views.items()
        }
        assert kept.decide(current, NOW) == select_next_nodes(
            current, list(views.values()), NOW, latest_hash=latest
        )


def test_a_plan_without_a_generation_is_classified_afresh() -> None:
    kept = PlanNodes()
    view = node("a")
    assert plan().metadata.generation is None
    kept.sync(plan(), H, [view])
    assert kept.states == {"a": classify_node(plan(), H, view)}
    kept.sync(plan(nodeSelector={"matchLabels": {"x": "y"}}), H)
    assert kept.states == {"a": NodeState.IGNORED}
