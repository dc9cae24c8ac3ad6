"""The NodeConfig controller: one RenderedNodeConfig per node, and NodeConfig status.

For every Node it renders the node's local config (reported by its agent in the
RenderedNodeConfig's status) with every matching NodeConfig, by priority, through
`render_node_config`, and stores the result with its hash in the RenderedNodeConfig named
after the node (owned by the Node, so it goes when the node does). The render starts from
scratch each time, so a removed NodeConfig, or a node that stops matching, reverts on the
next render. A layer that does not fit the schema stops that node's render: the node keeps
its config, and the NodeConfig shows `Degraded` with the error. For every NodeConfig it
sums up its nodes (matched / updated / failed / pending, `kubectl get nodeconfigs`).
Events go to Nodes and NodeConfigs; apply latency and per-state counts to the metrics.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from k3os.apis.meta import Condition, find_condition, set_condition
from k3os.apis.nodeconfig import APPLIED, DEGRADED, NodeConfig, RenderedNodeConfig
from k3os.client import ConflictError, Controller, InformerSet, Kube, NotFoundError
from k3os.client.resources import LEASES, NODES
from k3os.controllers._objects import ByVersion, parse_time
from k3os.controllers.decisions import (
    InvalidNodeConfig,
    matching_nodeconfigs,
    nodeconfig_status,
    render_node_config,
)
from k3os.controllers.events import EventRecorder
from k3os.controllers.fleetapi import NODECONFIGS, RENDERED
from k3os.controllers.metrics import (
    HEARTBEAT_AGE,
    NODECONFIG_APPLY_SECONDS,
    NODECONFIG_NODES,
    REGISTRY,
)

__all__ = ["NodeConfigController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[Literal["node", "nodeconfig", "report"], str]
_NODE_PREFIX = "NodeConfig/"

#: A NodeConfig's status sums up every node, so node and RenderedNodeConfig churn (a
#: rollout relabels hundreds of nodes a second) refreshes it at most once in this many
#: seconds rather than once per change; a change to the NodeConfig itself refreshes at once.
STATUS_COALESCE = 1.0


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name") or "")


def _version(obj: Obj) -> str:
    return str(_meta(obj).get("resourceVersion") or "")


def _labels(obj: Obj | None) -> Any:
    return None if obj is None else _meta(obj).get("labels") or {}


def _validated(obj: Obj) -> RenderedNodeConfig | None:
    try:
        return RenderedNodeConfig.model_validate(obj)
    except ValidationError:
        return None


def _nodeconfig(obj: Obj) -> NodeConfig | None:
    try:
        return NodeConfig.model_validate(obj)
    except ValidationError as e:
        log.warning("NodeConfig %s is not valid, skipped: %s", _name(obj), e)
        return None


def _local(obj: Obj | None) -> Any:
    return None if obj is None else (obj.get("status") or {}).get("localConfig")


class NodeConfigController:
    def __init__(
        self, kube: Kube, informers: InformerSet, *, recorder: EventRecorder | None = None
    ) -> None:
        self.kube = kube
        self.events = recorder or EventRecorder(kube, "k3os-nodeconfig-controller")
        self.nodes = informers.get(NODES)
        self.nodeconfigs = informers.get(NODECONFIGS)
        self.rendered = informers.get(RENDERED)
        self.leases = informers.get(LEASES, "kube-node-lease")
        self.controller: Controller[Key] = Controller("nodeconfig", self.reconcile, workers=2)
        # NodeConfig name -> node name -> render error, for its Degraded condition.
        self.render_errors: dict[str, dict[str, str]] = {}
        self._rendered_at: dict[str, tuple[str, float]] = {}  # node -> (hash, monotonic)
        self._reported: dict[str, tuple[str, str]] = {}  # node -> (hash, outcome) told
        self.status_coalesce = STATUS_COALESCE
        # Each RenderedNodeConfig is validated once per version, not once per status refresh
        # of every NodeConfig.
        self._parsed = ByVersion(_validated)
        self._configs = ByVersion(_nodeconfig)  # each NodeConfig validated once per version
        # Node -> what its last render read (its RenderedNodeConfig's version, which holds
        # the local config; the uid and generation of each NodeConfig that matched, which
        # tell a new spec): a label change that matches the same NodeConfigs renders
        # nothing new.
        self._rendered_from: dict[str, tuple[Any, ...]] = {}
        self.nodes.add_handler(self._on_node)
        self.nodeconfigs.add_handler(self._on_nodeconfig)
        self.rendered.add_handler(self._on_rendered)

    # -- what wakes what ------------------------------------------------------------------

    def _all_nodes(self) -> None:
        for node in self.nodes.cache:
            self.controller.queue.add(("node", _name(node)))

    def _all_nodeconfigs(self, delay: float | None = None) -> None:
        """Refresh every NodeConfig's status within `delay` s (default `status_coalesce`):
        one refresh for all the changes in between, as the queue keeps a key's earliest due
        time."""
        delay = self.status_coalesce if delay is None else delay
        for nc in self.nodeconfigs.cache:
            self.controller.queue.add_after(("nodeconfig", _name(nc)), delay)

    def _on_node(self, change: str, obj: Obj, old: Obj | None) -> None:
        if change == "MODIFIED" and _labels(obj) == _labels(old):
            return
        self.controller.queue.add(("node", _name(obj)))
        self._all_nodeconfigs()

    def _on_nodeconfig(self, change: str, obj: Obj, old: Obj | None) -> None:
        if change == "MODIFIED" and old is not None and obj.get("spec") == old.get("spec"):
            return  # our own status write
        if change == "DELETED":
            self.render_errors.pop(_name(obj), None)
            self._configs.forget(_name(obj))
        self.controller.queue.add(("nodeconfig", _name(obj)))
        self._all_nodes()

    def _on_rendered(self, change: str, obj: Obj, old: Obj | None) -> None:
        name = _name(obj)
        if change == "DELETED":
            self._parsed.forget(name)
        if change == "DELETED" or _local(obj) != _local(old):
            self.controller.queue.add(("node", name))
        if change != "DELETED" and (obj.get("status") != (old or {}).get("status")):
            self._observe_latency(obj)
            self.controller.queue.add(("report", name))
        self._all_nodeconfigs()

    def _observe_latency(self, obj: Obj) -> None:
        name = _name(obj)
        status = obj.get("status") or {}
        spec_hash = (obj.get("spec") or {}).get("hash")
        started = self._rendered_at.get(name)
        if started and started[0] == spec_hash and status.get("observedHash") == spec_hash:
            NODECONFIG_APPLY_SECONDS.observe(time.monotonic() - started[1])
            del self._rendered_at[name]

    def collect_heartbeats(self) -> None:
        """Set each node's heartbeat age (from its Lease) at scrape time."""
        now = datetime.now(UTC)
        HEARTBEAT_AGE.remove_matching()
        for lease in self.leases.cache:
            renewed = parse_time((lease.get("spec") or {}).get("renewTime"))
            if renewed is not None and self.nodes.cache.get(_name(lease)) is not None:
                HEARTBEAT_AGE.set(max(0.0, (now - renewed).total_seconds()), node=_name(lease))

    async def run(self) -> None:
        for informer in (self.nodes, self.nodeconfigs, self.rendered):
            await informer.wait_synced()
        self._all_nodes()
        self._all_nodeconfigs(delay=0)
        for rendered in self.rendered.cache:
            if self.nodes.cache.get(_name(rendered)) is None:
                self.controller.queue.add(("node", _name(rendered)))
        REGISTRY.add_collector(self.collect_heartbeats)
        try:
            await self.controller.run()
        finally:
            REGISTRY.remove_collector(self.collect_heartbeats)

    async def reconcile(self, key: Key) -> float | None:
        kind, name = key
        if kind == "node":
            await self._render(name)
        elif kind == "nodeconfig":
            await self._status(name)
        else:
            await self._report(name)
        return None

    # -- rendering ------------------------------------------------------------------------

    def _nodeconfigs(self) -> list[NodeConfig]:
        return [nc for obj in self.nodeconfigs.cache if (nc := self._configs.get(obj)) is not None]

    def _set_error(self, node: str, layer: str | None, message: str | None) -> None:
        for errors in self.render_errors.values():
            errors.pop(node, None)
        if layer is not None and message is not None:
            blamed = layer[len(_NODE_PREFIX) :] if layer.startswith(_NODE_PREFIX) else None
            names = [blamed] if blamed else [_name(nc) for nc in self.nodeconfigs.cache]
            for nc_name in names:
                self.render_errors.setdefault(nc_name, {})[node] = message

    async def _render(self, name: str) -> None:
        node = self.nodes.cache.get(name)
        existing = self.rendered.cache.get(name)
        if node is None:
            self._set_error(name, None, None)
            self._rendered_from.pop(name, None)
            if existing is not None:
                with contextlib.suppress(NotFoundError, ConflictError):
                    await self.kube.delete(RENDERED, name, uid=str(_meta(existing).get("uid", "")))
            return
        labels = dict(_meta(node).get("labels") or {})
        matched = matching_nodeconfigs(labels, self._nodeconfigs())
        layers = tuple(
            (nc.metadata.name, nc.metadata.uid, nc.metadata.generation) for nc in matched
        )
        inputs = (_version(existing), layers) if existing is not None else None
        if inputs is not None and self._rendered_from.get(name) == inputs:
            return  # rendered from these very inputs, and stored
        self._rendered_from.pop(name, None)
        try:
            rendering = render_node_config(labels, _local(existing), matched)
        except InvalidNodeConfig as e:
            had = any(name in errs for errs in self.render_errors.values())
            self._set_error(name, e.layer, str(e))
            if not had:
                await self._event(node, "Node", "RenderFailed", str(e), warning=True)
            self._all_nodeconfigs()
            return
        self._set_error(name, None, None)
        spec = rendering.spec(name).wire()
        if existing is not None and existing.get("spec") == spec:
            self._remember(name, inputs)
            return
        if existing is None:
            body: Obj = {
                "metadata": {"name": name, "ownerReferences": [self._owner(node)]},
                "spec": spec,
            }
            try:
                stored = await self.kube.create(RENDERED, body)
            except ConflictError:
                return  # created meanwhile: its watch event brings us back
        else:
            patch = [{"op": "add", "path": "/spec", "value": spec}]
            stored = await self.kube.patch(RENDERED, name, patch, patch_type="json")
        self.rendered.cache.upsert(stored)
        self._remember(name, (_version(stored), layers))
        self._rendered_at[name] = (rendering.hash, time.monotonic())
        names = ", ".join(s.name or s.kind for s in rendering.sources) or "nothing"
        await self._event(node, "Node", "ConfigRendered", f"hash {rendering.hash[:12]} ({names})")
        self._all_nodeconfigs()

    def _remember(self, name: str, inputs: tuple[str, tuple[Any, ...]] | None) -> None:
        """Keep what `name`'s render read, when every part of it carries a version, a uid
        and generation (an object without them cannot tell a change)."""
        if inputs is not None and inputs[0] and all(uid and gen for _, uid, gen in inputs[1]):
            self._rendered_from[name] = inputs

    @staticmethod
    def _owner(node: Obj) -> Obj:
        meta = _meta(node)
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "name": meta.get("name"),
            "uid": meta.get("uid"),
        }

    async def _event(
        self, obj: Obj, kind: str, reason: str, message: str, *, warning: bool = False
    ) -> None:
        api_version = "v1" if kind == "Node" else "k3os.io/v1"
        full = {"kind": kind, "apiVersion": api_version, **obj}
        await self.events.record(full, reason, message, type="Warning" if warning else "Normal")

    # -- what the agents reported ----------------------------------------------------------

    async def _report(self, name: str) -> None:
        obj = self.rendered.cache.get(name)
        node = self.nodes.cache.get(name)
        if obj is None or node is None:
            self._reported.pop(name, None)
            return
        rendered = self._parse_rendered(obj)
        if rendered is None:
            return
        if rendered.status.observed_hash != rendered.spec.hash:
            return
        degraded = find_condition(rendered.status.conditions, DEGRADED)
        applied = find_condition(rendered.status.conditions, APPLIED)
        if degraded is not None and degraded.status == "True":
            outcome, message = "failed", degraded.message
        elif applied is not None and applied.status == "True":
            outcome, message = "applied", ""
        else:
            return
        if self._reported.get(name) == (rendered.spec.hash, outcome):
            return
        self._reported[name] = (rendered.spec.hash, outcome)
        short = rendered.spec.hash[:12]
        if outcome == "failed":
            await self._event(
                node, "Node", "ConfigFailed", f"hash {short}: {message}", warning=True
            )
        else:
            await self._event(node, "Node", "ConfigApplied", f"hash {short}")

    # -- NodeConfig status -----------------------------------------------------------------

    async def _status(self, name: str) -> None:
        obj = self.nodeconfigs.cache.get(name)
        if obj is None:
            NODECONFIG_NODES.remove_matching(nodeconfig=name)
            return
        try:
            nc = NodeConfig.model_validate(obj)
        except ValidationError:
            return
        nodes = {_name(n): dict(_meta(n).get("labels") or {}) for n in self.nodes.cache}
        rendered: dict[str, RenderedNodeConfig] = {}
        for r in self.rendered.cache:
            parsed = self._parse_rendered(r)
            if parsed is not None:
                rendered[_name(r)] = parsed
        now = datetime.now(UTC)
        status = nodeconfig_status(nc, nodes, rendered, now)
        errors = {n: m for n, m in self.render_errors.get(name, {}).items() if n in nodes}
        if errors:
            first = min(errors)
            degraded = Condition(
                type=DEGRADED,
                status="True",
                reason="RenderFailed",
                message=f"{len(errors)} node(s) cannot render ({first}: {errors[first]})",
            )
            status = status.model_copy(
                update={"conditions": set_condition(status.conditions, degraded, now)}
            )
        for state in ("matched", "updated", "failed", "pending"):
            NODECONFIG_NODES.set(getattr(status, state), nodeconfig=name, state=state)
        old = nc.status
        if status.wire() == old.wire():
            return
        stored = await self.kube.patch(
            NODECONFIGS, name, {"status": status.wire()}, subresource="status"
        )
        self.nodeconfigs.cache.upsert(stored)
        await self._status_events(obj, old, status)

    def _parse_rendered(self, obj: Obj) -> RenderedNodeConfig | None:
        """`obj` validated (None when it does not fit), once per resourceVersion."""
        return self._parsed.get(obj)

    async def _status_events(self, obj: Obj, old: Any, new: Any) -> None:
        def cond(status: Any, type_: str) -> Condition | None:
            found: Condition | None = find_condition(status.conditions, type_)
            return found

        was_updated, now_updated = cond(old, "Updated"), cond(new, "Updated")
        if (
            now_updated
            and now_updated.status == "True"
            and (not was_updated or was_updated.status != "True")
        ):
            await self._event(obj, "NodeConfig", "Updated", now_updated.message)
        was_bad, now_bad = cond(old, DEGRADED), cond(new, DEGRADED)
        if (
            now_bad
            and now_bad.status == "True"
            and (not was_bad or (was_bad.status, was_bad.message) != ("True", now_bad.message))
        ):
            await self._event(obj, "NodeConfig", now_bad.reason, now_bad.message, warning=True)
