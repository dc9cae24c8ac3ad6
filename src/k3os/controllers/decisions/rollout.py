"""Which nodes a Plan works on next: the rollout as one pure function of the cluster's state.

`select_next_nodes` classifies every node (see `classify_node`), finishes nodes whose
upgrade completed and passed the health gate, fails those that stayed unhealthy past the
gate's timeout, and then, unless the rollout is halted by its failure budget, paused,
outside its window, held by an unhealthy upgraded node or by the canary gate, fills the
free concurrency slots in a stable order. The controller carries the decision out; running
it again on the same state gives the same answer, so it never overshoots.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from k3os.apis.keys import CANARY_APPROVED, DISABLED, done_label, node_record_key, retry_key
from k3os.apis.meta import Condition, set_condition
from k3os.apis.noderecord import NodeUpgradeRecord, read_record, retry_token
from k3os.apis.plan import HealthGate, Plan, PlanStatus
from k3os.controllers.decisions.nodes import NodeView, untolerated_taints
from k3os.controllers.decisions.window import in_window, next_window_start

_LONG_AGO = datetime.min.replace(tzinfo=UTC)


class NodeState(StrEnum):
    IGNORED = "Ignored"  # the plan's selector does not match
    DISABLED = "Disabled"  # done label set to `disabled`
    BLOCKED = "Blocked"  # carries a taint the plan does not tolerate
    PENDING = "Pending"  # waiting for its turn
    APPLYING = "Applying"  # in flight
    COMPLETE = "Complete"  # upgraded; waiting for postCompleteDelay and the health gate
    DONE = "Done"  # labelled with the current hash
    FAILED = "Failed"  # failed at the current hash; waits for a retry or a new hash


@dataclass(frozen=True)
class NodeFailure:
    node: str
    reason: str
    message: str


@dataclass(frozen=True)
class RolloutDecision:
    latest_hash: str
    states: dict[str, NodeState]
    start: tuple[str, ...] = ()
    """Start these now: add to status.applying, then record, cordon/drain, hand to the agent."""
    resume: tuple[str, ...] = ()
    """Reserved in status.applying but not recorded as applying: redo the start's later steps."""
    finish: tuple[str, ...] = ()
    """Label done, uncordon if we cordoned, drop from status.applying."""
    fail: tuple[NodeFailure, ...] = ()
    """Record these as failed now (they stay cordoned for inspection)."""
    applying: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    complete: bool = False
    halted: bool = False
    reason: str = ""
    message: str = ""
    requeue_after: timedelta | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def conditions(self, old: Iterable[Condition], now: datetime) -> list[Condition]:
        """The Plan's `Complete` and `Halted` conditions for this decision."""
        complete = Condition(
            type="Complete",
            status="True" if self.complete else "False",
            reason=self.reason,
            message=self.message,
        )
        halted = Condition(
            type="Halted",
            status="True" if self.halted else "False",
            reason="FailureBudgetExhausted" if self.halted else "WithinBudget",
            message=self.message if self.halted else "",
        )
        out = set_condition(list(old), complete, now)
        return set_condition(out, halted, now)

    def plan_status(self, old: PlanStatus, latest_version: str, now: datetime) -> PlanStatus:
        """The Plan's status after carrying this decision out."""
        return PlanStatus(
            latest_version=latest_version,
            latest_hash=self.latest_hash,
            applying=list(self.applying),
            failed=list(self.failed),
            conditions=self.conditions(old.conditions, now),
        )


def classify_node(
    plan: Plan, latest_hash: str, node: NodeView, applying: Collection[str] = ()
) -> NodeState:
    """Where `node` stands in `plan` at `latest_hash`. Work in flight is kept whatever the
    selector says now: a node half-way through an upgrade is not abandoned."""
    name = plan.metadata.name
    record = _record(node, name)
    label = node.labels.get(done_label(name))
    in_status = node.name in applying
    complete = record is not None and record.phase == "Complete" and record.hash == latest_hash
    failed = (
        record is not None
        and record.phase == "Failed"
        and record.hash in (None, latest_hash)
        and retry_token(dict(node.annotations), name) == record.retry
    )
    if record is not None and record.phase == "Applying":
        return NodeState.APPLYING
    if in_status:
        # Reserved in status.applying: finished at this hash, or (re)starting.
        if complete:
            return NodeState.COMPLETE
        return NodeState.FAILED if failed else NodeState.APPLYING
    if complete and label != latest_hash:
        return NodeState.COMPLETE
    selector = plan.spec.node_selector
    if selector is None or not selector.matches(dict(node.labels)):
        return NodeState.IGNORED
    if label == DISABLED:
        return NodeState.DISABLED
    if failed:
        return NodeState.FAILED
    if label == latest_hash:
        return NodeState.DONE
    if untolerated_taints(plan.spec.tolerations, node):
        return NodeState.BLOCKED
    return NodeState.PENDING


class ClassifyMemo:
    """`classify_node`'s answers for one Plan, kept per node while neither the node (its
    NodeView, one object per resourceVersion) nor what the answer reads of the Plan (its
    spec, by uid and generation; its hash; whether status reserves the node) changed: a
    pass decides over every node, and between two passes only a few of them change."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[NodeView, tuple[Any, ...], NodeState]] = {}

    def classify(
        self, plan: Plan, latest_hash: str, node: NodeView, applying: Collection[str] = ()
    ) -> NodeState:
        meta = plan.metadata
        if meta.generation is None:  # nothing tells a changed spec: no keeping
            return classify_node(plan, latest_hash, node, applying)
        key = (meta.uid, meta.generation, latest_hash, node.name in applying)
        kept = self._kept.get(node.name)
        if kept is not None and kept[0] is node and kept[1] == key:
            return kept[2]
        state = classify_node(plan, latest_hash, node, applying)
        self._kept[node.name] = (node, key, state)
        return state

    def forget(self, names: Collection[str] | None = None) -> None:
        """Drop what is kept (of `names`, or all)."""
        if names is None:
            self._kept.clear()
        for name in names or ():
            self._kept.pop(name, None)


def health_problems(node: NodeView, gate: HealthGate) -> list[str]:
    problems = []
    if gate.ready and not node.ready:
        problems.append(f"Ready is {node.conditions.get('Ready', 'missing')}")
    for want in gate.conditions:
        have = node.conditions.get(want.type, "missing")
        if have != want.status:
            problems.append(f"{want.type} is {have}, want {want.status}")
    return problems


def _order_key(plan: Plan, latest_hash: str, node: NodeView) -> tuple[str, str]:
    seed = f"{node.uid or node.name}/{plan.metadata.uid or plan.metadata.name}/{latest_hash}"
    return _digest(seed), node.name


@functools.lru_cache(maxsize=16384)
def _digest(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def _record(node: NodeView, plan_name: str) -> NodeUpgradeRecord | None:
    """The node's record, parsed once per distinct annotation value (a rollout decides
    over every node on every pass; records are read-only here)."""
    raw = node.annotations.get(node_record_key(plan_name))
    return None if raw is None else _parse_record(plan_name, raw)


@functools.lru_cache(maxsize=16384)
def _parse_record(plan_name: str, raw: str) -> NodeUpgradeRecord | None:
    return read_record({node_record_key(plan_name): raw}, plan_name)


def _names(names: Iterable[str], limit: int = 5) -> str:
    items = sorted(names)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _unrecorded(node: NodeView, plan_name: str) -> bool:
    record = _record(node, plan_name)
    return record is None or record.phase != "Applying"


def _record_since(node: NodeView, plan_name: str) -> datetime | None:
    record = _record(node, plan_name)
    return record.since if record is not None else None


def select_next_nodes(
    plan: Plan,
    nodes: Iterable[NodeView],
    now: datetime,
    *,
    latest_hash: str | None = None,
    busy: Collection[str] = (),
    memo: ClassifyMemo | None = None,
) -> RolloutDecision:
    """Decide the Plan's next step. `busy` names nodes running another exclusive plan;
    `memo` keeps the nodes' classification between passes (`ClassifyMemo`)."""
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone (use datetime.now(timezone.utc))")
    latest = latest_hash or plan.status.latest_hash
    if not latest:
        raise ValueError("the plan has no resolved hash yet (status.latestHash)")
    spec, name = plan.spec, plan.metadata.name
    by_name = {n.name: n for n in nodes}
    applying = set(plan.status.applying)
    classify = memo.classify if memo is not None else classify_node
    states = {n: classify(plan, latest, node, applying) for n, node in by_name.items()}
    wake: list[datetime] = []

    finish: list[str] = []
    fail: list[NodeFailure] = []
    for node_name in sorted(n for n, s in states.items() if s is NodeState.COMPLETE):
        node = by_name[node_name]
        since = _record_since(node, name) or now
        problems = health_problems(node, spec.health_gate)
        timeout = spec.health_gate.timeout
        if not problems:
            ready_at = since + (spec.post_complete_delay or timedelta(0))
            if now >= ready_at:
                finish.append(node_name)
                states[node_name] = NodeState.DONE
            else:
                wake.append(ready_at)
        elif timeout and now >= since + timeout:
            why = "; ".join(problems)
            message = f"not healthy {timeout} after its upgrade: {why}"
            fail.append(NodeFailure(node_name, "HealthGateTimeout", message))
            states[node_name] = NodeState.FAILED
        elif timeout:
            wake.append(since + timeout)

    # The states are final from here: group the names once, in order, rather than
    # sorting every node for each state asked about.
    groups: dict[NodeState, list[str]] = {state: [] for state in NodeState}
    for node_name in sorted(states):
        groups[states[node_name]].append(node_name)

    def having(*wanted: NodeState) -> list[str]:
        if len(wanted) == 1:
            return list(groups[wanted[0]])
        return sorted(n for state in wanted for n in groups[state])

    in_flight = having(NodeState.APPLYING, NodeState.COMPLETE)
    failed = having(NodeState.FAILED)
    done = having(NodeState.DONE)
    pending = having(NodeState.PENDING)
    counts = {state.value: len(groups[state]) for state in NodeState}
    halted = len(failed) >= spec.max_failures
    reason, message = "", ""
    start: list[str] = []

    if halted:
        reason = "FailureBudgetExhausted"
        message = (
            f"{len(failed)} node(s) failed at this hash (maxFailures {spec.max_failures}): "
            f"{_names(failed)}; after fixing, annotate each with {retry_key(name)}=<new value> "
            "or change the plan"
        )
    elif spec.paused:
        reason, message = "Paused", "spec.paused is true: no new node starts"
    elif pending and not in_window(spec.window, now):
        opens = next_window_start(spec.window, now)
        wake.append(opens)
        reason, message = "Waiting", f"outside the maintenance window; it opens at {opens}"
    else:
        unhealthy = {n: p for n in done if (p := health_problems(by_name[n], spec.health_gate))}
        if pending and unhealthy:
            first = min(unhealthy)
            reason = "HealthGate"
            message = f"waiting for upgraded nodes to be healthy: {_names(unhealthy)} ({first}: "
            message += "; ".join(unhealthy[first]) + ")"
        else:
            reason, message, slots = _canary_gate(plan, latest, by_name, done, in_flight, now, wake)
            slots = min(slots, max(0, spec.concurrency - len(in_flight)))
            candidates = [n for n in pending if not (spec.exclusive and n in busy)]
            candidates.sort(key=lambda n: _order_key(plan, latest, by_name[n]))
            start = candidates[:slots] if pending else []

    new_applying = sorted(set(in_flight) - set(finish)) + start
    resume = [
        n for n in in_flight if states[n] is NodeState.APPLYING and _unrecorded(by_name[n], name)
    ]
    complete = not (pending or in_flight or failed or having(NodeState.BLOCKED)) and not start
    if not reason or (reason == "CanaryWaiting" and not pending):
        reason, message = _progress(complete, new_applying, failed, done, states)
    requeue = max(min(wake) - now, timedelta(0)) if wake else None
    return RolloutDecision(
        latest_hash=latest,
        states=states,
        start=tuple(start),
        resume=tuple(resume),
        finish=tuple(finish),
        fail=tuple(fail),
        applying=tuple(new_applying),
        failed=tuple(failed),
        complete=complete,
        halted=halted,
        reason=reason,
        message=message,
        requeue_after=requeue,
        counts=counts,
    )


def _canary_gate(
    plan: Plan,
    latest: str,
    by_name: dict[str, NodeView],
    done: list[str],
    in_flight: list[str],
    now: datetime,
    wake: list[datetime],
) -> tuple[str, str, int]:
    """(reason, message, how many may start) under the canary rule."""
    canary = plan.spec.canary
    unlimited = len(by_name) + 1
    if canary is None:
        return "", "", unlimited
    if len(done) < canary.nodes:
        return "", "", max(0, canary.nodes - len(done) - len(in_flight))
    if plan.metadata.annotations.get(CANARY_APPROVED) == latest:
        return "", "", unlimited
    if canary.delay is not None:
        times = sorted(_record_since(by_name[n], plan.metadata.name) or _LONG_AGO for n in done)
        opens = times[canary.nodes - 1] + canary.delay
        if now >= opens:
            return "", "", unlimited
        wake.append(opens)
        return "CanaryWaiting", f"{canary.nodes} canary node(s) upgraded; going on at {opens}", 0
    message = (
        f"{canary.nodes} canary node(s) upgraded ({_names(done)}); to go on, annotate the plan "
        f"with {CANARY_APPROVED}={latest}"
    )
    return "CanaryWaiting", message, 0


def _progress(
    complete: bool,
    applying: list[str],
    failed: list[str],
    done: list[str],
    states: dict[str, NodeState],
) -> tuple[str, str]:
    if complete:
        return "Complete", f"{len(done)} node(s) at the latest hash"
    if applying:
        return "Applying", f"upgrading {_names(applying)}; {len(done)} node(s) done"
    if failed:
        return "NodesFailed", f"failed within budget: {_names(failed)}"
    blocked = [n for n, s in states.items() if s is NodeState.BLOCKED]
    if blocked:
        return "Blocked", f"untolerated taints keep the plan off {_names(blocked)}"
    return "Waiting", "no node can start now"
