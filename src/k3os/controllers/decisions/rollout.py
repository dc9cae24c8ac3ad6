"""Which nodes a Plan works on next: the rollout as one pure function of the cluster's state.

`select_next_nodes` classifies every node (see `classify_node`), finishes nodes whose
upgrade completed and passed the health gate, fails those that stayed unhealthy past the
gate's timeout, and then, unless the rollout is halted by its failure budget, paused,
outside its window, held by an unhealthy upgraded node or by the canary gate, fills the
free concurrency slots in a stable order. The controller carries the decision out; running
it again on the same state gives the same answer, so it never overshoots.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from k3os.apis.keys import CANARY_APPROVED, DISABLED, done_label, retry_key
from k3os.apis.meta import Condition, set_condition
from k3os.apis.noderecord import NodeUpgradeRecord, record_of, retry_token
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
    stamp: tuple[str, ...] = ()
    """Recorded complete by their agent, which leaves the time to the controller's clock, and
    not finished at once (unhealthy, or a delay): record the time now, for the health gate's
    timeout and the delay to count from."""
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


class PlanNodes:
    """One Plan's nodes classified (`classify_node`) and grouped by state, kept between
    passes: `sync` takes only the nodes that changed since the last one and reclassifies
    them, and every node when what the answer reads of the Plan changed (its spec, by uid
    and generation; its hash); a node that entered or left `status.applying` is classified
    again too. `decide` reads the groups, so a pass costs what changed, not the fleet."""

    def __init__(self) -> None:
        self.views: dict[str, NodeView] = {}
        self.states: dict[str, NodeState] = {}
        self.groups: dict[NodeState, set[str]] = {state: set() for state in NodeState}
        self.latest = ""
        self._key: tuple[Any, ...] | None = None
        self._applying: frozenset[str] = frozenset()
        self._unhealthy: dict[str, list[str]] = {}
        """Done nodes the health gate holds the rollout for, with what it finds."""
        self._queue: list[tuple[str, str]] = []
        """The pending nodes' start order (`_order_key`), sorted."""
        self._order: dict[str, tuple[str, str]] = {}

    def sync(
        self,
        plan: Plan,
        latest_hash: str,
        changed: Iterable[NodeView] = (),
        gone: Iterable[str] = (),
    ) -> None:
        """Take the nodes that are new or changed (`changed`, each the whole current view)
        and those deleted (`gone`) since the last sync, at `plan` and `latest_hash`."""
        meta = plan.metadata
        key = (meta.uid, meta.name, meta.generation, latest_hash)
        applying = frozenset(plan.status.applying)
        changed = list(changed)
        for view in changed:
            self.views[view.name] = view
        todo: Iterable[str]
        if meta.generation is None or key != self._key:  # nothing tells a changed spec: all
            todo = list(self.views)
        else:
            todo = {v.name for v in changed} | (applying ^ self._applying)
        self._key, self._applying, self.latest = key, applying, latest_hash
        for name in gone:
            if self.views.pop(name, None) is not None:
                self._drop(name)
        for name in todo:
            now_view = self.views.get(name)
            if now_view is not None:
                self._drop(name)
                self._place(plan, now_view, classify_node(plan, latest_hash, now_view, applying))

    def _drop(self, name: str) -> None:
        state = self.states.pop(name, None)
        if state is None:
            return
        self.groups[state].discard(name)
        self._unhealthy.pop(name, None)
        order = self._order.pop(name, None)
        if order is not None:
            del self._queue[bisect.bisect_left(self._queue, order)]

    def _place(self, plan: Plan, view: NodeView, state: NodeState) -> None:
        name = view.name
        self.states[name] = state
        self.groups[state].add(name)
        if state is NodeState.DONE:
            problems = health_problems(view, plan.spec.health_gate)
            if problems:
                self._unhealthy[name] = problems
        elif state is NodeState.PENDING:
            order = _order_key(plan, self.latest, view)
            self._order[name] = order
            bisect.insort(self._queue, order)

    def decide(self, plan: Plan, now: datetime, *, busy: Collection[str] = ()) -> RolloutDecision:
        """The Plan's next step over the nodes as last synced (see `select_next_nodes`)."""
        if now.tzinfo is None:
            raise ValueError("now must carry a time zone (use datetime.now(timezone.utc))")
        spec, name, latest = plan.spec, plan.metadata.name, self.latest
        if not latest:
            raise ValueError("the plan has no resolved hash yet (status.latestHash)")
        by_name, groups = self.views, self.groups
        wake: list[datetime] = []
        finish: list[str] = []
        fail: list[NodeFailure] = []
        stamp: list[str] = []
        for node_name in sorted(groups[NodeState.COMPLETE]):
            node = by_name[node_name]
            recorded = _record_since(node, name)
            since = recorded or now
            problems = health_problems(node, spec.health_gate)
            timeout = spec.health_gate.timeout
            if recorded is None and (problems or spec.post_complete_delay):
                stamp.append(node_name)
                continue
            if not problems:
                ready_at = since + (spec.post_complete_delay or timedelta(0))
                if now >= ready_at:
                    finish.append(node_name)
                else:
                    wake.append(ready_at)
            elif timeout and now >= since + timeout:
                why = "; ".join(problems)
                message = f"not healthy {timeout} after its upgrade: {why}"
                fail.append(NodeFailure(node_name, "HealthGateTimeout", message))
            elif timeout:
                wake.append(since + timeout)

        # This pass's finished and failed nodes move from Complete to Done and Failed.
        states = dict(self.states)
        states.update(dict.fromkeys(finish, NodeState.DONE))
        states.update(dict.fromkeys((f.node for f in fail), NodeState.FAILED))
        counts = {state.value: len(groups[state]) for state in NodeState}
        counts[NodeState.COMPLETE.value] -= len(finish) + len(fail)
        counts[NodeState.DONE.value] += len(finish)
        counts[NodeState.FAILED.value] += len(fail)
        moved = {*finish, *(f.node for f in fail)}
        in_flight = sorted(groups[NodeState.APPLYING] | (groups[NodeState.COMPLETE] - moved))
        failed = sorted(groups[NodeState.FAILED] | {f.node for f in fail})
        done_count = counts[NodeState.DONE.value]
        pending = groups[NodeState.PENDING]
        halted = len(failed) >= spec.max_failures
        reason, message = "", ""
        start: list[str] = []

        def done() -> list[str]:
            return sorted(groups[NodeState.DONE] | set(finish))

        if halted:
            reason = "FailureBudgetExhausted"
            message = (
                f"{len(failed)} node(s) failed at this hash (maxFailures {spec.max_failures}): "
                f"{_names(failed)}; after fixing, annotate each with {retry_key(name)}=<new "
                "value> or change the plan"
            )
        elif spec.paused:
            reason, message = "Paused", "spec.paused is true: no new node starts"
        elif pending and not in_window(spec.window, now):
            opens = next_window_start(spec.window, now)
            wake.append(opens)
            reason, message = "Waiting", f"outside the maintenance window; it opens at {opens}"
        elif pending and self._unhealthy:
            # Nodes finished in this pass passed the gate: only those done before count.
            unhealthy = self._unhealthy
            first = min(unhealthy)
            reason = "HealthGate"
            message = f"waiting for upgraded nodes to be healthy: {_names(unhealthy)} ({first}: "
            message += "; ".join(unhealthy[first]) + ")"
        else:
            reason, message, slots = _canary_gate(
                plan, latest, by_name, done_count, done, in_flight, now, wake
            )
            slots = min(slots, max(0, spec.concurrency - len(in_flight)))
            for _, node_name in self._queue:
                if len(start) >= slots:
                    break
                if not (spec.exclusive and node_name in busy):
                    start.append(node_name)

        new_applying = in_flight + start  # finished nodes are out of flight
        resume = [
            n
            for n in in_flight
            if states[n] is NodeState.APPLYING and _unrecorded(by_name[n], name)
        ]
        blocked = groups[NodeState.BLOCKED]
        complete = not (pending or in_flight or failed or blocked) and not start
        if not reason or (reason == "CanaryWaiting" and not pending):
            reason, message = _progress(complete, new_applying, failed, done_count, blocked)
        requeue = max(min(wake) - now, timedelta(0)) if wake else None
        return RolloutDecision(
            latest_hash=latest,
            states=states,
            start=tuple(start),
            resume=tuple(resume),
            finish=tuple(finish),
            fail=tuple(fail),
            stamp=tuple(stamp),
            applying=tuple(new_applying),
            failed=tuple(failed),
            complete=complete,
            halted=halted,
            reason=reason,
            message=message,
            requeue_after=requeue,
            counts=counts,
        )


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
    return record_of(node.annotations, plan_name)


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
) -> RolloutDecision:
    """Decide the Plan's next step over `nodes` (the whole fleet). `busy` names nodes
    running another exclusive plan. A controller that decides again and again keeps a
    `PlanNodes` instead, and gives it only what changed."""
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone (use datetime.now(timezone.utc))")
    latest = latest_hash or plan.status.latest_hash
    if not latest:
        raise ValueError("the plan has no resolved hash yet (status.latestHash)")
    fleet = PlanNodes()
    fleet.sync(plan, latest, nodes)
    return fleet.decide(plan, now, busy=busy)


def _canary_gate(
    plan: Plan,
    latest: str,
    by_name: dict[str, NodeView],
    done_count: int,
    done: Callable[[], list[str]],
    in_flight: list[str],
    now: datetime,
    wake: list[datetime],
) -> tuple[str, str, int]:
    """(reason, message, how many may start) under the canary rule; `done()` names the
    done nodes (read only when the canary waits)."""
    canary = plan.spec.canary
    unlimited = len(by_name) + 1
    if canary is None:
        return "", "", unlimited
    if done_count < canary.nodes:
        return "", "", max(0, canary.nodes - done_count - len(in_flight))
    if plan.metadata.annotations.get(CANARY_APPROVED) == latest:
        return "", "", unlimited
    if canary.delay is not None:
        times = sorted(_record_since(by_name[n], plan.metadata.name) or _LONG_AGO for n in done())
        opens = times[canary.nodes - 1] + canary.delay
        if now >= opens:
            return "", "", unlimited
        wake.append(opens)
        return "CanaryWaiting", f"{canary.nodes} canary node(s) upgraded; going on at {opens}", 0
    message = (
        f"{canary.nodes} canary node(s) upgraded ({_names(done())}); to go on, annotate the plan "
        f"with {CANARY_APPROVED}={latest}"
    )
    return "CanaryWaiting", message, 0


def _progress(
    complete: bool,
    applying: list[str],
    failed: list[str],
    done: int,
    blocked: Collection[str],
) -> tuple[str, str]:
    if complete:
        return "Complete", f"{done} node(s) at the latest hash"
    if applying:
        return "Applying", f"upgrading {_names(applying)}; {done} node(s) done"
    if failed:
        return "NodesFailed", f"failed within budget: {_names(failed)}"
    if blocked:
        return "Blocked", f"untolerated taints keep the plan off {_names(blocked)}"
    return "Waiting", "no node can start now"
