"""The NodeConfig controller against an in-memory API: rendering per node, status counts,
render errors, agent reports, cleanup after a node goes, heartbeat ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from k3os.client import InformerSet
from k3os.client.resources import EVENTS, LEASES, NODES
from k3os.controllers.fleetapi import NODECONFIGS, RENDERED
from k3os.controllers.metrics import HEARTBEAT_AGE, NODECONFIG_NODES, REGISTRY
from k3os.controllers.nodeconfig import NodeConfigController
from tests.unit.controllers.fleetfakes import FleetKube


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": dict(labels)}}


def nodeconfig(name: str, config: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "generation": 1}, "spec": {"config": config, **spec}}


class Env:
    def __init__(self) -> None:
        self.kube = FleetKube()
        self.informers = InformerSet(self.kube)  # type: ignore[arg-type]
        self.ctrl = NodeConfigController(self.kube, self.informers)  # type: ignore[arg-type]
        self.ctrl.status_coalesce = 0  # settle() runs what is queued now

    async def settle(self, rounds: int = 4) -> None:
        for _ in range(rounds):
            self.kube.sync(self.informers)
            queue = self.ctrl.controller.queue
            while len(queue):
                key = await queue.get()
                await self.ctrl.reconcile(key)
                queue.done(key)

    def rendered(self, name: str) -> dict[str, Any]:
        return self.kube.peek(RENDERED, name)

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.kube.peek(NODECONFIGS, name).get("status") or {})

    async def report(self, name: str, *, error: str | None = None) -> None:
        """What an agent writes after applying its rendered config."""
        spec_hash = self.rendered(name)["spec"]["hash"]
        ok = error is None
        conditions = [
            {"type": "Applied", "status": "True" if ok else "False", "message": error or ""},
            {"type": "Degraded", "status": "False" if ok else "True", "message": error or ""},
        ]
        status = {"observedHash": spec_hash, "conditions": conditions, "localConfig": {}}
        status["localConfig"] = {"hostname": name}
        await self.kube.patch(RENDERED, name, {"status": status}, subresource="status")


async def test_renders_reports_counts_and_reverts() -> None:
    env = Env()
    env.kube.put(NODES, node("a1", site="a"))
    env.kube.put(NODES, node("b1", site="b"))
    env.kube.put(
        NODECONFIGS,
        nodeconfig(
            "site-a",
            {"k3os": {"ntp_servers": ["ntp.a"]}},
            nodeSelector={"matchLabels": {"site": "a"}},
        ),
    )
    await env.settle()
    a1 = env.rendered("a1")
    assert a1["spec"]["config"]["k3os"]["ntp_servers"] == ["ntp.a"]
    assert a1["metadata"]["ownerReferences"][0]["kind"] == "Node"
    assert "k3os" not in env.rendered("b1")["spec"]["config"]
    assert env.status("site-a")["matched"] == 1 and env.status("site-a")["pending"] == 1

    await env.report("a1")
    await env.report("b1")
    await env.settle()
    # the local config became the bottom layer of a new render
    assert env.rendered("a1")["spec"]["config"]["hostname"] == "a1"
    await env.report("a1")
    await env.settle()
    status = env.status("site-a")
    assert (status["matched"], status["updated"], status["failed"]) == (1, 1, 0)
    assert NODECONFIG_NODES.value(nodeconfig="site-a", state="updated") == 1
    reasons = [e["reason"] for e in env.kube.of(EVENTS)]
    assert {"ConfigRendered", "ConfigApplied", "Updated"} <= set(reasons)

    await env.report("a1", error="disk full")
    await env.settle()
    assert env.status("site-a")["failed"] == 1
    assert "ConfigFailed" in [e["reason"] for e in env.kube.of(EVENTS)]

    await env.kube.delete(NODECONFIGS, "site-a")
    await env.settle()
    assert "k3os" not in env.rendered("a1")["spec"]["config"]
    assert NODECONFIG_NODES.value(nodeconfig="site-a", state="matched") is None


async def test_an_invalid_layer_degrades_its_nodeconfig_and_keeps_the_node_as_it_is() -> None:
    env = Env()
    env.kube.put(NODES, node("a1", site="a"))
    await env.settle()
    before = env.rendered("a1")["spec"]["hash"]
    env.kube.put(NODECONFIGS, nodeconfig("bad", {"k3os": {"no_such_key": 1}}))
    await env.settle()
    assert env.rendered("a1")["spec"]["hash"] == before
    degraded = next(c for c in env.status("bad")["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "RenderFailed"
    assert "no_such_key" in degraded["message"]
    failed = [e for e in env.kube.of(EVENTS) if e["reason"] == "RenderFailed"]
    assert sorted(e["involvedObject"]["kind"] for e in failed) == ["Node", "NodeConfig"]
    # fixing it clears the error
    await env.kube.patch(
        NODECONFIGS, "bad", {"spec": {"config": {"k3os": {"no_such_key": None, "debug": True}}}}
    )
    await env.settle()
    degraded = next(c for c in env.status("bad")["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "False"
    assert env.ctrl.render_errors.get("bad") == {}


async def test_a_removed_node_loses_its_rendered_config() -> None:
    env = Env()
    env.kube.put(NODES, node("gone"))
    await env.settle()
    assert env.kube.of(RENDERED)
    await env.kube.delete(NODES, "gone")
    await env.settle()
    assert env.kube.of(RENDERED) == []


async def test_heartbeat_ages_come_from_leases_at_scrape_time() -> None:
    env = Env()
    env.kube.put(NODES, node("n1"))
    renewed = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {"metadata": {"name": "n1", "namespace": "kube-node-lease"}}
    env.kube.put(LEASES, lease | {"spec": {"renewTime": renewed}})
    env.kube.put(LEASES, {"metadata": {"name": "stranger", "namespace": "kube-node-lease"}})
    env.kube.sync(env.informers)
    REGISTRY.add_collector(env.ctrl.collect_heartbeats)
    try:
        text = REGISTRY.render()
    finally:
        REGISTRY.remove_collector(env.ctrl.collect_heartbeats)
    age = HEARTBEAT_AGE.value(node="n1")
    assert age is not None and age >= 30
    assert 'k3os_node_heartbeat_age_seconds{node="n1"}' in text
    assert HEARTBEAT_AGE.value(node="stranger") is None


async def test_node_churn_refreshes_a_nodeconfig_status_once_per_interval() -> None:
    """A rollout relabels hundreds of nodes a second: each NodeConfig's status (a sum over
    every node) is refreshed once for the lot, after `status_coalesce` seconds, and each
    RenderedNodeConfig is validated once per version however often the sums run."""
    env = Env()
    env.ctrl.status_coalesce = 30.0
    for i in range(20):
        env.kube.put(NODES, node(f"n{i}", site="a"))
    env.kube.put(NODECONFIGS, nodeconfig("site-a", {}, nodeSelector={"matchLabels": {}}))
    await env.settle()
    assert env.status("site-a")["matched"] == 20  # the NodeConfig's own change: at once
    queue = env.ctrl.controller.queue
    for i in range(20):
        await env.kube.patch(NODES, f"n{i}", {"metadata": {"labels": {"version": "v2"}}})
    env.kube.sync(env.informers)
    # every node re-renders now; the status refresh waits, one key for all twenty changes
    assert len(queue) == 20 and queue.delayed == 1

    rendered = list(env.ctrl.rendered.cache)
    parsed = [env.ctrl._parse_rendered(r) for r in rendered]
    await env.ctrl.reconcile(("nodeconfig", "site-a"))
    await env.ctrl.reconcile(("nodeconfig", "site-a"))
    # nothing changed: the same parsed objects, nothing validated again
    again = [env.ctrl._parse_rendered(r) for r in rendered]
    assert all(a is p is not None for a, p in zip(again, parsed, strict=True))
    assert len(parsed) == 20


async def test_a_label_change_matching_the_same_nodeconfigs_renders_nothing_new(
    monkeypatch: Any,
) -> None:
    """A rollout relabels every node (its version, its done label): the node's render
    inputs, its local config and the NodeConfigs that match it, stay the same, so nothing
    is rendered again; a label that changes what matches, a NodeConfig's change and a new
    local config each render anew."""
    from k3os.controllers import nodeconfig as module

    renders: list[str] = []
    real = module.render_node_config

    def counting(labels: Any, local: Any, configs: Any) -> Any:
        renders.append(str(labels.get("site")))
        return real(labels, local, configs)

    monkeypatch.setattr(module, "render_node_config", counting)
    env = Env()
    env.kube.put(NODES, node("a1", site="a"))
    selector = {"matchLabels": {"site": "a"}}
    env.kube.put(NODECONFIGS, nodeconfig("site-a", {"k3os": {"dns_nameservers": ["1.1.1.1"]}},
                                         nodeSelector=selector))  # fmt: skip
    await env.settle()
    assert renders and env.rendered("a1")["spec"]["sources"][0]["name"] == "site-a"
    first = len(renders)

    for version in ("v2", "v3"):
        await env.kube.patch(NODES, "a1", {"metadata": {"labels": {"k3os.io/version": version}}})
        await env.settle()
    assert len(renders) == first  # the same inputs: no render

    await env.kube.patch(NODES, "a1", {"metadata": {"labels": {"site": "b"}}})
    await env.settle()
    assert len(renders) == first + 1 and env.rendered("a1")["spec"]["sources"] == []

    await env.kube.patch(NODES, "a1", {"metadata": {"labels": {"site": "a"}}})
    await env.settle()
    assert len(renders) == first + 2
    assert env.rendered("a1")["spec"]["sources"][0]["name"] == "site-a"

    changed = nodeconfig("site-a", {"k3os": {"dns_nameservers": ["9.9.9.9"]}},
                         nodeSelector=selector)  # fmt: skip
    changed["metadata"]["generation"] = 2  # a new spec, the same object (uid)
    changed["metadata"]["uid"] = env.kube.peek(NODECONFIGS, "site-a")["metadata"]["uid"]
    env.kube.put(NODECONFIGS, changed)
    await env.settle()
    assert len(renders) == first + 3
    assert env.rendered("a1")["spec"]["config"]["k3os"]["dns_nameservers"] == ["9.9.9.9"]

    await env.report("a1")  # the agent's local config joins the render as its bottom layer
    await env.settle()
    assert len(renders) == first + 4 and env.rendered("a1")["spec"]["config"]["hostname"] == "a1"
