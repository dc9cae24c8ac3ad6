"""The Plan controller: rolls upgrade Plans through the fleet, as docs/fleet.md describes.

Each pass over a Plan resolves its version (pinned, or the channel's redirect), hashes
every input, and works in a crash-safe order: take the agents' outcomes (the request of
`k3os.apis.handoff` answered) into the nodes' records, ask the plan's kept `PlanNodes`
what to do (the decision `select_next_nodes` takes over the whole fleet, fed only with the
nodes changed since the last pass), finish and fail nodes, write the status (which frees
slots and reserves new nodes in `status.applying`), then start the new nodes and move the
others on (cordon, drain, hand over). Where nothing can be observed between two steps
they are one Node write (`decisions.steps`), so a plain rollout costs three writes per
node. A pass records one Event on the Plan per kind of step, naming the nodes; per-node
Events only for what was done to the node itself and for failures; metrics go to
`controllers.metrics`. The controller never sleeps: it asks to look again when a drain, a
delay or a window needs it, and every change of a Node field the rollout reads, or of a
Plan, wakes it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urljoin

from pydantic import ValidationError

from k3os.apis.handoff import (
    UpgradeOutcome,
    UpgradeRequest,
    agent_finished,
    outcome_key,
    read_outcome,
    read_request,
    request_dropped,
    request_key,
)
from k3os.apis.keys import CORDONED_BY, OUTCOME_PREFIX, node_record_key
from k3os.apis.noderecord import NodeUpgradeRecord, read_record, record_of
from k3os.apis.plan import Plan
from k3os.client import Controller, InformerSet, Kube, NotFoundError, PermanentError, TemporaryError
from k3os.client.cache import Cache, Key
from k3os.client.resources import NODES
from k3os.controllers._objects import ByVersion
from k3os.controllers.decisions import (
    ChannelError,
    DrainVerdict,
    MissingSecret,
    NodeView,
    PlanNodes,
    RolloutDecision,
    begin_patch,
    complete_patch,
    fail_patch,
    finish_patch,
    handover_patch,
    merge_patches,
    outcome_step,
    patch_changes,
    plan_hash,
    resolved_version,
    uncordon_patch,
)
from k3os.controllers.drain import drain_once
from k3os.controllers.events import EventRecorder, EventType
from k3os.controllers.fleetapi import PLANS, SECRETS
from k3os.controllers.metrics import PLAN_FAILURES, PLAN_HALTED, PLAN_NODES, PLAN_UPGRADE_SECONDS

__all__ = ["PlanController", "PlanSettings", "fetch_channel_location"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
T = TypeVar("T")
PlanKey = tuple[str, str]


@dataclass(frozen=True)
class PlanSettings:
    channel_poll: float = 900.0
    """How often a channel is asked again (SUC's default, 15 minutes)."""
    resync: float = 30.0
    """How often a Plan with work in flight is looked at without any change."""
    channel_timeout: float = 10.0
    pass_spacing: float = 0.05
    """Least time between the end of one pass over a Plan and the start of the next: what
    changes meanwhile is taken in one pass (each pass writes the Plan's status when its
    reservations change, and waits for its writes' answers)."""
    answer_spacing: float = 0.01
    """The same, when an agent's outcome came in since the last pass started: the slot it
    frees is the rollout's critical path, so the next pass comes sooner."""


def _errors_text(error: ValidationError, most: int = 3) -> str:
    """A Plan's validation errors, each with its field (`spec.window.days: ...`)."""
    from k3os.apis.meta import error_field, error_text

    texts = []
    for item in error.errors()[:most]:
        field, text = error_field(item.get("loc")), error_text(item)
        texts.append(f"{field}: {text}" if field else text)
    more = len(error.errors()) - most
    return "; ".join(texts) + (f" (and {more} more)" if more > 0 else "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch_channel_location(url: str, timeout: float = 10.0) -> str:
    """GET `url` without following redirects and return the absolute `Location` it names."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    try:
        with opener.open(url, timeout=timeout) as resp:
            raise ChannelError(url, f"expected a redirect, got HTTP {resp.status}")
    except urllib.error.HTTPError as e:
        location = e.headers.get("Location") if e.code in (301, 302, 303, 307, 308) else None
        if not location:
            raise ChannelError(
                url, f"expected a redirect with a Location, got HTTP {e.code}"
            ) from e
        return urljoin(url, location)
    except (urllib.error.URLError, OSError) as e:
        raise ChannelError(url, f"cannot reach the channel: {e}") from e


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _fingerprint(node: Obj | None) -> Any:
    """What of a Node matters to a rollout (not heartbeat times)."""
    if node is None:
        return None
    meta = _meta(node)
    conditions = sorted(
        (str(c.get("type")), str(c.get("status")))
        for c in (node.get("status") or {}).get("conditions") or []
    )
    return (meta.get("labels"), meta.get("annotations"), node.get("spec"), conditions)


# A pass reads the outcomes and requests of the nodes in flight: each distinct annotation
# value is parsed once (what comes back is only read, never changed), as records are.
@functools.lru_cache(maxsize=16384)
def _parsed_outcome(plan_name: str, raw: str) -> UpgradeOutcome | None:
    return read_outcome({outcome_key(plan_name): raw}, plan_name)


@functools.lru_cache(maxsize=16384)
def _parsed_request(plan_name: str, raw: str) -> UpgradeRequest | None:
    return read_request({request_key(plan_name): raw}, plan_name)


def _request_of(annotations: Mapping[str, str], plan_name: str) -> UpgradeRequest | None:
    raw = annotations.get(request_key(plan_name))
    return None if raw is None else _parsed_request(plan_name, raw)


def _cordon_change(patch: Obj) -> bool | None:
    value = (patch.get("spec") or {}).get("unschedulable")
    return value if isinstance(value, bool) else None


_PARALLEL = 32
"""Node writes a pass keeps in flight at once: the server commits concurrent writes in one
transaction (group commit), and a pass's writes are to different nodes."""


async def _each(items: Iterable[T], work: Callable[[T], Awaitable[None]]) -> None:
    """`work` on every item, at most `_PARALLEL` at a time; the first error is raised (the
    rest are cancelled: every write is whole, so what was done is a state a pass resumes)."""
    items = list(items)
    if not items:
        return
    slots = asyncio.Semaphore(_PARALLEL)

    async def one(item: T) -> None:
        async with slots:
            await work(item)

    try:
        async with asyncio.TaskGroup() as group:
            for item in items:
                group.create_task(one(item))
    except BaseExceptionGroup as e:
        raise e.exceptions[0] from None


_SUMMARY_EVERY = 1.0
"""Seconds between a Plan's summary Events (`_summarise`)."""
_OUTCOMES_PER_PASS = 25
"""Agent outcomes one pass takes (see `_take_outcomes`)."""
_LONG_AGO = datetime.min.replace(tzinfo=UTC)
_ANSWERED = "plan-outcomes"
"""The Node cache's index of the plans whose current request each node's agent has answered
(an outcome not yet taken: a taken one stays on the node until its next start)."""


def _answer(
    annotations: Mapping[str, str], plan_name: str
) -> tuple[NodeUpgradeRecord, UpgradeOutcome] | None:
    """The node's record in flight and the agent's outcome that answers it, if any."""
    raw_outcome = annotations.get(outcome_key(plan_name))
    if raw_outcome is None:
        return None
    record = record_of(annotations, plan_name)
    if record is None or record.phase != "Applying" or not record.hash:
        return None
    outcome = _parsed_outcome(plan_name, raw_outcome)
    return (record, outcome) if outcome is not None and outcome.hash == record.hash else None


def _answered_plans(node: Obj, old: Obj | None = None) -> list[str]:
    """The plans whose outcome annotation on `node` answers its record in flight (and, with
    `old`, differs from the one `old` had: an outcome that came in)."""
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    before = ((old or {}).get("metadata") or {}).get("annotations") or {}
    return [
        plan
        for key, value in annotations.items()
        if key.startswith(OUTCOME_PREFIX)
        and before.get(key) != value
        and _answer(annotations, plan := key[len(OUTCOME_PREFIX) :]) is not None
    ]


def _finished_by_agent(node: Obj, old: Obj | None) -> list[str]:
    """The plans whose request on `node` its agent finished in the write from `old` to
    `node` (`k3os.apis.handoff.agent_finished`), their upgrade times observed."""
    if old is None:
        return []
    annotations = _meta(node).get("annotations") or {}
    before = _meta(old).get("annotations") or {}
    plans = []
    for plan in agent_finished(before, annotations):
        plans.append(plan)
        started, request = record_of(before, plan), read_request(before, plan)
        if started is not None and started.since is not None and request is not None:
            PLAN_UPGRADE_SECONDS.observe(
                max(0.0, (datetime.now(UTC) - started.since).total_seconds()),
                namespace=request.plan.partition("/")[0],
                plan=plan,
            )
    return plans


class _PassNodes:
    """The Node cache as one pass reads it (the controller's writes go into it): a node a
    write of the pass found deleted is gone for the rest of the pass."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self.gone: set[str] = set()

    def get(self, name: str) -> Obj | None:
        return None if name in self.gone else self._cache.get(name)

    def drop(self, name: str) -> None:
        self.gone.add(name)


async def _gather(calls: Iterable[Awaitable[None]]) -> None:
    await asyncio.gather(*calls)


_SHOWN = 10
"""Node names a summary Event spells out; the rest are counted."""


def _names(names: list[str]) -> str:
    items = sorted(names)
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


@dataclass
class _Moved:
    """The nodes one pass moved, for its summary Events on the Plan."""

    version: str
    latest: str
    started: list[str] = field(default_factory=list)
    """Recorded and handed to their agents in one write."""
    starting: list[str] = field(default_factory=list)
    """Recorded (and cordoned); handed over once cordoned and drained."""
    handed_over: list[str] = field(default_factory=list)
    upgraded: list[str] = field(default_factory=list)
    """Upgraded, waiting for the health gate or postCompleteDelay."""
    done: list[str] = field(default_factory=list)
    wrote: bool = False
    more: bool = False
    """Outcomes are left for the next pass."""

    def summaries(self) -> list[tuple[str, list[str], str]]:
        """(reason, nodes, what happened to them) for every non-empty kind."""
        at = f"at hash {self.latest[:12]}"
        kinds = [
            ("NodesStarted", self.started, f"started {at} and asked to run {self.version}"),
            ("NodesStarted", self.starting, f"started {at}, to be handed over once drained"),
            ("NodesHandedOver", self.handed_over, f"asked to run {self.version}"),
            ("NodesUpgraded", self.upgraded, f"upgraded to {self.version}, not yet done"),
            ("NodesDone", self.done, f"done at {self.version}"),
        ]
        return [(reason, names, what) for reason, names, what in kinds if names]


class PlanController:
    def __init__(
        self,
        kube: Kube,
        informers: InformerSet,
        *,
        settings: PlanSettings | None = None,
        recorder: EventRecorder | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings or PlanSettings()
        self.events = recorder or EventRecorder(kube, "k3os-plan-controller")
        self.plans = informers.get(PLANS)
        self.nodes = informers.get(NODES)
        # A pass takes outcomes from the nodes that have one, not from a scan of the fleet.
        self.nodes.cache.add_index(_ANSWERED, _answered_plans)
        self.controller: Controller[PlanKey] = Controller("plan", self.reconcile)
        self._channels: dict[str, tuple[str, float]] = {}  # channel URL -> (version, when)
        self._invalid: dict[PlanKey, str] = {}
        # An invalid Plan's resourceVersion when judged: every Node change queues every
        # Plan, and one that has not changed is not parsed (nor logged) again.
        self._invalid_at: dict[PlanKey, str] = {}
        self._last_pass: dict[PlanKey, float] = {}  # loop time each plan's last pass ended
        # Per plan, set when an outcome came in since its last pass started.
        self._answered: dict[PlanKey, asyncio.Event] = {}
        self._views = ByVersion(NodeView.from_node)
        # Each plan's nodes, classified, and the Node cache's keys changed since its last pass.
        self._fleets: dict[PlanKey, tuple[PlanNodes, set[Key]]] = {}
        self._recording: set[asyncio.Task[None]] = set()
        # Each plan's summaries not yet recorded: the Plan, and node names by (reason, what).
        self._pending: dict[PlanKey, tuple[Obj, dict[tuple[str, str], list[str]]]] = {}
        self._summarised: dict[PlanKey, float] = {}  # loop time of each plan's last summary
        self.plans.add_handler(self._on_plan)
        self.nodes.add_handler(self._on_node)

    def _on_plan(self, change: str, obj: Obj, old: Obj | None) -> None:
        meta = _meta(obj)
        self.controller.queue.add((str(meta.get("namespace") or ""), str(meta.get("name"))))

    def _on_node(self, change: str, obj: Obj, old: Obj | None) -> None:
        if change == "DELETED":
            name = str(_meta(obj).get("name"))
            self._views.forget(name)
        if change == "MODIFIED" and _fingerprint(obj) == _fingerprint(old):
            return
        if change != "DELETED":
            self._hurry(_answered_plans(obj, old) + _finished_by_agent(obj, old))
        self.enqueue_all()

    def _hurry(self, plan_names: list[str]) -> None:
        """Outcomes for these plans came in: their next passes need not wait the whole
        spacing."""
        if not plan_names:
            return
        for plan in self.plans.cache:
            meta = _meta(plan)
            if meta.get("name") in plan_names:
                key = (str(meta.get("namespace") or ""), str(meta.get("name")))
                self._answered.setdefault(key, asyncio.Event()).set()

    def enqueue_all(self) -> None:
        for plan in self.plans.cache:
            self._on_plan("SYNC", plan, None)

    async def run(self) -> None:
        await self.plans.wait_synced()
        await self.nodes.wait_synced()
        self.enqueue_all()
        await self.controller.run()

    # -- inputs ---------------------------------------------------------------------------

    async def _version(self, plan: Plan) -> str:
        if plan.spec.version or not plan.spec.channel:
            return resolved_version(plan)
        channel = plan.spec.channel
        cached = self._channels.get(channel)
        if cached is not None and time.monotonic() - cached[1] < self.settings.channel_poll:
            return cached[0]
        location = await asyncio.to_thread(
            fetch_channel_location, channel, self.settings.channel_timeout
        )
        version = resolved_version(plan, location)
        self._channels[channel] = (version, time.monotonic())
        return version

    async def _secrets(self, plan: Plan) -> dict[str, dict[str, bytes]]:
        data: dict[str, dict[str, bytes]] = {}
        namespace = plan.metadata.namespace or "default"
        for spec in plan.spec.secrets:
            if spec.ignore_updates:
                continue
            try:
                secret = await self.kube.get(SECRETS, spec.name, namespace)
            except NotFoundError:
                continue  # plan_hash names the missing Secret
            raw = secret.get("data") or {}
            data[spec.name] = {k: base64.b64decode(v or "") for k, v in raw.items()}
        return data

    def _view(self, node: Obj) -> NodeView:
        """The node's NodeView, built once per resourceVersion (every plan's kept nodes
        share it)."""
        return self._views.get(node)

    def _fleet(self, plan: Plan, latest: str, gone: Iterable[str]) -> PlanNodes:
        """The plan's nodes classified, brought up to date with the Node cache: only the
        nodes changed since its last pass are looked at again (all on its first)."""
        key = (plan.metadata.namespace or "", plan.metadata.name)
        kept = self._fleets.get(key)
        if kept is None:
            fleet, changed = PlanNodes(), self.nodes.cache.track()
            self._fleets[key] = (fleet, changed)
            fleet.sync(plan, latest, [self._view(n) for n in self.nodes.cache], gone)
            return fleet
        fleet, changed = kept
        keys = list(changed)
        changed.clear()
        views, missing = [], list(gone)
        for namespace, name in keys:
            node = self.nodes.cache.get(name, namespace)
            if node is None:
                missing.append(name)
            else:
                views.append(self._view(node))
        fleet.sync(plan, latest, views, missing)
        return fleet

    def _drop_fleet(self, key: PlanKey) -> None:
        kept = self._fleets.pop(key, None)
        if kept is not None:
            self.nodes.cache.untrack(kept[1])

    def _busy(self, plan: Plan) -> set[str]:
        """Nodes in flight for another exclusive plan."""
        busy: set[str] = set()
        for other in self.plans.cache:
            meta = _meta(other)
            same = meta.get("name") == plan.metadata.name and (
                meta.get("namespace") == plan.metadata.namespace
            )
            if same or not (other.get("spec") or {}).get("exclusive"):
                continue
            busy.update(str(n) for n in (other.get("status") or {}).get("applying") or [])
        return busy

    # -- writes ---------------------------------------------------------------------------

    async def _patch_node(self, name: str, patch: Obj) -> Obj | None:
        try:
            node = await self.kube.patch(NODES, name, patch)
        except NotFoundError:
            return None
        self.nodes.cache.upsert(node)
        return node

    async def _patch_status(self, obj: Obj, status: Obj) -> Obj:
        meta = _meta(obj)
        new = await self.kube.patch(
            PLANS,
            str(meta["name"]),
            {"status": status},
            namespace=str(meta.get("namespace") or ""),
            subresource="status",
        )
        self.plans.cache.upsert(new)
        return new

    async def _node_event(
        self, node: Obj | None, reason: str, message: str, warning: bool = False
    ) -> None:
        if node is not None:
            kind: EventType = "Warning" if warning else "Normal"
            await self.events.record(
                {"kind": "Node", "apiVersion": "v1", **node}, reason, message, type=kind
            )

    async def _plan_event(self, obj: Obj, reason: str, message: str, warning: bool = False) -> None:
        await self.events.record(obj, reason, message, type="Warning" if warning else "Normal")

    def _summarise(self, obj: Obj, moved: _Moved) -> None:
        """One Plan Event per kind of step, naming the nodes moved. They are recorded beside
        the next pass, not before it: Events never hold the rollout up (`settle` waits for
        them). The passes within `_SUMMARY_EVERY` of a plan's last summary share one, so a
        rollout's Events do not grow with how often its passes run."""
        summaries = moved.summaries()
        if not summaries:
            return
        meta = _meta(obj)
        key = (str(meta.get("namespace") or ""), str(meta.get("name")))
        if key not in self._pending:
            loop = asyncio.get_running_loop()
            due = self._summarised.get(key, -1e9) + _SUMMARY_EVERY - loop.time()
            loop.call_later(max(0.0, due), self._record_summaries, key)
        groups = self._pending.get(key, (obj, {}))[1]
        self._pending[key] = (obj, groups)  # the Plan as its latest pass saw it
        for reason, names, what in summaries:
            groups.setdefault((reason, what), []).extend(names)

    def _record_summaries(self, key: PlanKey) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        obj, groups = pending
        self._summarised[key] = asyncio.get_running_loop().time()
        task = asyncio.create_task(
            _gather(
                self._plan_event(obj, reason, f"{len(names)} node(s) {what}: {_names(names)}")
                for (reason, what), names in groups.items()
            )
        )
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def settle(self) -> None:
        """Record the summaries waiting for their time, and wait for the Events passes are
        still recording."""
        for key in list(self._pending):
            self._record_summaries(key)
        while self._recording:
            await asyncio.gather(*self._recording)

    # -- the pass -------------------------------------------------------------------------

    async def reconcile(self, key: PlanKey) -> float | None:
        loop = asyncio.get_running_loop()
        last = self._last_pass.get(key, -1e9)
        answered = self._answered.setdefault(key, asyncio.Event())
        wait = last + self.settings.pass_spacing - loop.time()
        if wait > 0 and not answered.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered.wait(), wait)
        wait = last + min(self.settings.answer_spacing, self.settings.pass_spacing) - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        answered.clear()  # what comes in from now on, this pass may not see
        try:
            return await self._reconcile(key)
        finally:
            self._last_pass[key] = loop.time()

    async def _reconcile(self, key: PlanKey) -> float | None:
        namespace, name = key
        obj = self.plans.cache.get(name, namespace)
        if obj is None:
            for gauge in (PLAN_NODES, PLAN_HALTED):
                gauge.remove_matching(namespace=namespace, plan=name)
            self._invalid.pop(key, None)
            self._invalid_at.pop(key, None)
            self._last_pass.pop(key, None)
            self._answered.pop(key, None)
            self._drop_fleet(key)
            self._summarised.pop(key, None)
            await self._forget(namespace, name)
            return None
        stored = str(_meta(obj).get("resourceVersion") or "")
        if self._invalid_at.get(key) == stored:
            return None  # the same invalid Plan, said already: no pass until it changes
        try:
            plan = Plan.model_validate(obj)
        except ValidationError as e:
            message = f"invalid plan: {_errors_text(e)}"
            if self._invalid.get(key) != message:
                self._invalid[key] = message
                await self._plan_event(obj, "InvalidPlan", message, warning=True)
                stored = await self._write_invalid(obj, message) or stored
            self._invalid_at[key] = stored  # after our own status write, if there was one
            raise PermanentError(f"plan {namespace}/{name}: {message}") from e
        self._invalid_at.pop(key, None)
        self._invalid.pop(key, None)
        now = datetime.now(UTC)
        try:
            version = await self._version(plan)
            latest = plan_hash(plan, version, await self._secrets(plan))
        except (ChannelError, MissingSecret) as e:
            await self._plan_event(obj, "ResolveFailed", str(e), warning=True)
            await self._write_unresolved(obj, plan, str(e), now)
            raise TemporaryError(str(e), delay=min(60.0, self.settings.resync)) from e
        if plan.status.latest_hash != latest:
            await self._plan_event(obj, "Resolved", f"version {version}, hash {latest[:12]}")
        moved = _Moved(version, latest)
        try:
            return await self._pass(obj, plan, latest, version, now, moved)
        finally:
            self._summarise(obj, moved)

    async def _pass(
        self, obj: Obj, plan: Plan, latest: str, version: str, now: datetime, moved: _Moved
    ) -> float | None:
        """Outcomes first (so the slots they free are filled in the same pass), then the
        decision: finish and fail nodes, write the status (reserving new nodes), start
        them, and move the nodes in flight on."""
        nodes = _PassNodes(self.nodes.cache)
        await self._take_outcomes(obj, plan, nodes, latest, version, now, moved)
        fleet = self._fleet(plan, latest, nodes.gone)
        decision = fleet.decide(plan, now, busy=self._busy(plan))
        self._gauges(plan, decision)
        await self._finish_and_fail(obj, plan, decision, nodes, latest, version, now, moved)
        await self._write_status(obj, plan, decision, version, now)
        started = set(decision.start) | set(decision.resume)
        await _each(
            sorted(started),
            lambda n: self._start(plan, nodes.get(n), latest, version, now, moved),
        )
        waits: list[float] = []

        async def progress(node_name: str) -> None:
            node = nodes.get(node_name)
            if node is None:
                return
            wait = await self._progress(obj, plan, node, latest, version, now, moved)
            if wait is not None:
                waits.append(wait)

        # A node whose agent is at work needs nothing but a look; only the rest get a task.
        to_move: list[str] = []
        for node_name in decision.applying:
            node = nodes.get(node_name)
            if node_name in started or node is None:
                continue
            at_work, wait = self._agent_at_work(plan, node, now)
            if not at_work:
                to_move.append(node_name)
            elif wait is not None:
                waits.append(wait)
        await _each(to_move, progress)
        if moved.more:
            waits.append(0.0)
        elif moved.wrote or decision.finish or decision.fail:
            waits.append(0.05)  # our own writes come back from the cache, not as events
        if decision.requeue_after is not None:
            waits.append(decision.requeue_after.total_seconds())
        if decision.applying:
            waits.append(self.settings.resync)
        elif plan.spec.channel and not plan.spec.version:
            waits.append(self.settings.channel_poll)
        return min(waits) if moved.more else max(0.05, min(waits)) if waits else None

    async def _forget(self, namespace: str, name: str) -> None:
        """A deleted Plan leaves no node cordoned by it, except failed ones (kept for
        inspection, with their record); its requests and in-flight records go."""
        owner = f"{namespace or 'default'}/{name}"
        for node in self.nodes.cache:
            annotations = _meta(node).get("annotations") or {}
            record = read_record(dict(annotations), name)
            ours = annotations.get(CORDONED_BY) == owner
            failed = record is not None and record.phase == "Failed"
            drop: dict[str, Any] = {}
            drop.update({k: None for k in request_dropped(name) if k in annotations})
            if record is not None and not failed:
                drop[node_record_key(name)] = None
            patch: Obj = {"metadata": {"annotations": drop}} if drop else {}
            if ours and not failed:
                patch = merge_patches(patch, uncordon_patch(NodeView.from_node(node), owner))
            if not patch:
                continue
            updated = await self._patch_node(str(_meta(node).get("name")), patch)
            if _cordon_change(patch) is False:
                await self._node_event(updated, "Uncordoned", f"plan {owner} was deleted")

    def _gauges(self, plan: Plan, decision: RolloutDecision) -> None:
        ns, name = plan.metadata.namespace or "", plan.metadata.name
        for state, count in decision.counts.items():
            PLAN_NODES.set(count, namespace=ns, plan=name, state=state)
        PLAN_HALTED.set(1 if decision.halted else 0, namespace=ns, plan=name)

    async def _write_invalid(self, obj: Obj, message: str) -> str | None:
        """A Plan the controller cannot read says so in its own status too (`Complete` False,
        reason `InvalidPlan`), not only in an Event that ages out; the resourceVersion the
        write left, None when nothing was written."""
        from k3os.apis.meta import Condition, set_condition
        from k3os.apis.plan import PlanStatus

        try:
            old = PlanStatus.model_validate(obj.get("status") or {})
        except ValidationError:
            old = PlanStatus()
        cond = Condition(type="Complete", status="False", reason="InvalidPlan", message=message)
        status = old.model_copy(
            update={"conditions": set_condition(old.conditions, cond, datetime.now(UTC))}
        )
        if status == old:
            return None
        try:
            written = await self._patch_status(obj, status.wire())
        except NotFoundError:
            return None
        return str(_meta(written).get("resourceVersion") or "") or None

    async def _write_unresolved(self, obj: Obj, plan: Plan, why: str, now: datetime) -> None:
        from k3os.apis.meta import Condition, set_condition

        cond = Condition(type="LatestResolved", status="False", reason="ResolveFailed", message=why)
        conditions = set_condition(plan.status.conditions, cond, now)
        status = plan.status.model_copy(update={"conditions": conditions})
        if status != plan.status:
            with contextlib.suppress(NotFoundError):
                await self._patch_status(obj, status.wire())

    async def _write_status(
        self, obj: Obj, plan: Plan, decision: RolloutDecision, version: str, now: datetime
    ) -> None:
        """At most one status write a pass, and none when nothing changed."""
        status = decision.plan_status(plan.status, version, now)
        old_wire = plan.status.wire()
        new_wire = status.wire()
        if new_wire == old_wire:
            return
        old_cond = {c.type: (c.status, c.reason) for c in plan.status.conditions}
        await self._patch_status(obj, new_wire)
        if decision.halted and old_cond.get("Halted", ("",))[0] != "True":
            await self._plan_event(obj, "Halted", decision.message, warning=True)
        if decision.complete and old_cond.get("Complete", ("",))[0] != "True":
            await self._plan_event(obj, "Complete", decision.message)
        elif decision.reason in ("Paused", "Waiting", "CanaryWaiting", "HealthGate") and (
            old_cond.get("Complete", ("", ""))[1] != decision.reason
        ):
            await self._plan_event(obj, decision.reason, decision.message)

    async def _take_outcomes(
        self,
        obj: Obj,
        plan: Plan,
        nodes: _PassNodes,
        latest: str,
        version: str,
        now: datetime,
        moved: _Moved,
    ) -> None:
        """Turn every agent outcome that answers a node's current record into its record
        (finishing the node in the same write when it may), before the pass decides."""
        name = plan.metadata.name
        answered: list[tuple[str, NodeUpgradeRecord, UpgradeOutcome, Obj]] = []
        for indexed in self.nodes.cache.by_index(_ANSWERED, name):
            node_name = str(_meta(indexed).get("name"))
            answer = _answer(_meta(indexed).get("annotations") or {}, name)
            if answer is not None and node_name not in nodes.gone:
                answered.append((node_name, *answer, indexed))

        async def take(item: tuple[str, NodeUpgradeRecord, UpgradeOutcome, Obj]) -> None:
            node_name, record, outcome, node = item
            assert record.hash is not None
            view = self._view(node)
            if record.since is not None:
                PLAN_UPGRADE_SECONDS.observe(
                    max(0.0, (now - record.since).total_seconds()),
                    namespace=plan.metadata.namespace or "",
                    plan=name,
                )
            step = outcome_step(plan, view, outcome, record.hash, latest, version, now)
            updated = await self._patch_node(node_name, step.patch)
            moved.wrote = True
            if updated is None:
                nodes.drop(node_name)
                return
            if step.result == "Failed":
                await self._failed(obj, plan, updated, step.reason, step.message)
            elif step.result == "Done":
                await self._done(plan, updated, step.patch, moved)
            else:
                moved.upgraded.append(node_name)

        # Oldest first, a bounded number a pass: the slots they free are filled before the
        # next ones are taken, so the batches of a big rollout spread out instead of
        # arriving (and waiting) all together.
        answered.sort(key=lambda a: (a[1].since or _LONG_AGO, a[0]))
        moved.more = len(answered) > _OUTCOMES_PER_PASS
        if moved.more:  # the rest are as urgent as what comes in meanwhile
            self._hurry([name])
        await _each(answered[:_OUTCOMES_PER_PASS], take)

    async def _done(self, plan: Plan, node: Obj, patch: Obj, moved: _Moved) -> None:
        name = plan.metadata.name
        moved.done.append(str(_meta(node).get("name")))
        if _cordon_change(patch) is False:
            await self._node_event(node, "Uncordoned", f"by plan {name}")

    async def _finish_and_fail(
        self,
        obj: Obj,
        plan: Plan,
        decision: RolloutDecision,
        nodes: _PassNodes,
        latest: str,
        version: str,
        now: datetime,
        moved: _Moved,
    ) -> None:
        async def finish(node_name: str) -> None:
            node = nodes.get(node_name)
            if node is None:
                return
            patch = finish_patch(plan, self._view(node), latest, version)
            if not patch_changes(node, patch):
                # Finished with its outcome (by our take, or by its agent): only its slot
                # is left to free.
                if node_name not in moved.done:
                    moved.done.append(node_name)
                return
            updated = await self._patch_node(node_name, patch)
            moved.wrote = True
            if updated is not None:
                await self._done(plan, updated, patch, moved)

        await _each(decision.finish, finish)

        async def stamp(node_name: str) -> None:
            node = nodes.get(node_name)
            if node is not None:
                view = self._view(node)
                await self._patch_node(node_name, complete_patch(plan, view, latest, now))
                moved.wrote = True

        await _each(decision.stamp, stamp)
        for failure in decision.fail:
            node = nodes.get(failure.node)
            if node is None:
                continue
            view = self._view(node)
            patch = fail_patch(
                plan,
                view,
                latest,
                now,
                reason=failure.reason,
                message=failure.message,
                os_touched=True,
            )
            updated = await self._patch_node(failure.node, patch)
            await self._failed(obj, plan, updated, failure.reason, failure.message)

    async def _failed(
        self, obj: Obj, plan: Plan, node: Obj | None, reason: str, message: str
    ) -> None:
        """Failures stay one Event each, on the Plan and on the Node: they are rare and
        each one needs a look."""
        name = str(_meta(node or {}).get("name") or "")
        PLAN_FAILURES.inc(namespace=plan.metadata.namespace or "", plan=plan.metadata.name)
        await self._plan_event(obj, "NodeFailed", f"{name}: {reason}: {message}", warning=True)
        await self._node_event(node, "UpgradeFailed", f"plan {plan.metadata.name}: {message}", True)

    async def _start(
        self,
        plan: Plan,
        node: Obj | None,
        latest: str,
        version: str,
        now: datetime,
        moved: _Moved,
    ) -> None:
        """Record the node as applying (and cordon it, or hand it over at once)."""
        if node is None:
            return
        view = self._view(node)
        patch, handed_over = begin_patch(plan, view, latest, version, now)
        updated = await self._patch_node(view.name, patch)
        moved.wrote = True
        (moved.started if handed_over else moved.starting).append(view.name)
        if _cordon_change(patch) is True:
            await self._node_event(updated, "Cordoned", f"by plan {plan.metadata.name}")

    async def _progress(
        self,
        obj: Obj,
        plan: Plan,
        node: Obj,
        latest: str,
        version: str,
        now: datetime,
        moved: _Moved,
    ) -> float | None:
        """Move one in-flight node on: drain, hand over, or fail it past its deadline (the
        pass has found, with `_agent_at_work`, that it needs more than a look)."""
        name = plan.metadata.name
        view = self._view(node)
        record = record_of(view.annotations, name)
        assert record is not None and record.hash is not None  # else the agent was "at work"
        request = _request_of(view.annotations, name)
        if request is not None and request.hash == record.hash:
            return await self._deadline_passed(obj, plan, node, record, now)
        if record.hash != latest:
            await self._start(plan, node, latest, version, now, moved)  # not handed over yet
            return None
        drain = plan.spec.drain
        if drain is not None:
            progress = await drain_once(self.kube, drain, view.name, record.since or now, now)
            verdict = progress.step.verdict
            if progress.evicted or progress.deleted:
                gone = ", ".join((*progress.evicted, *progress.deleted))
                await self._node_event(node, "Draining", f"plan {name}: evicting {gone}")
            if verdict is DrainVerdict.WAIT:
                return progress.requeue_after.total_seconds()
            if verdict is DrainVerdict.FAIL:
                patch = fail_patch(
                    plan,
                    view,
                    latest,
                    now,
                    reason=progress.step.reason,
                    message=progress.step.message,
                    os_touched=False,
                )
                updated = await self._patch_node(view.name, patch)
                await self._failed(obj, plan, updated, progress.step.reason, progress.step.message)
                if _cordon_change(patch) is False:
                    await self._node_event(updated, "Uncordoned", f"by plan {name}")
                return 0.05
            if verdict is DrainVerdict.FORCE:
                await self._node_event(node, "DrainForced", progress.step.message, True)
            await self._node_event(node, "Drained", f"plan {name}")
        await self._patch_node(view.name, handover_patch(plan, record.hash, version))
        moved.wrote = True
        moved.handed_over.append(view.name)
        return None

    def _agent_at_work(self, plan: Plan, node: Obj, now: datetime) -> tuple[bool, float | None]:
        """(True, when to look again, None for never) for an in-flight node with nothing to
        do: its agent has the request and time left (nearly every node in flight), or it
        has no current record. (False, None) when `_progress` has something to do."""
        name = plan.metadata.name
        annotations = self._view(node).annotations
        record = record_of(annotations, name)
        if record is None or record.phase != "Applying" or not record.hash:
            return True, None
        request = _request_of(annotations, name)
        if request is None or request.hash != record.hash:
            return False, None
        limit = plan.spec.job_active_deadline_secs
        if not limit or record.since is None:
            return True, None  # its outcome will wake us
        left = (record.since - now).total_seconds() + limit
        return (True, left) if left > 0 else (False, None)

    async def _deadline_passed(
        self, obj: Obj, plan: Plan, node: Obj, record: NodeUpgradeRecord, now: datetime
    ) -> float | None:
        """The agent had its request for `jobActiveDeadlineSecs` (counted from the start)
        without an outcome: the node fails."""
        limit = plan.spec.job_active_deadline_secs
        assert record.hash is not None
        name = plan.metadata.name
        message = f"no outcome from the node's agent within jobActiveDeadlineSecs ({limit}s)"
        patch = merge_patches(
            fail_patch(
                plan,
                NodeView.from_node(node),
                record.hash,
                now,
                reason="DeadlineExceeded",
                message=message,
                os_touched=True,
            ),
            {"metadata": {"annotations": request_dropped(name)}},
        )
        updated = await self._patch_node(str(_meta(node).get("name")), patch)
        await self._failed(obj, plan, updated, "DeadlineExceeded", message)
        return 0.05
