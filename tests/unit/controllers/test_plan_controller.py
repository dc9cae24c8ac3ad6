"""The Plan controller's passes against an in-memory API: the order of its writes, the
hand-off to the agent, outcomes, failures, drains, channels, and bad input."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from k3os.agent.upgrades import outcome_patch
from k3os.apis.handoff import UpgradeOutcome, finish_key, outcome_key, request_key
from k3os.client import InformerSet, PermanentError, TemporaryError
from k3os.client.resources import EVENTS, NODES, PODS
from k3os.controllers.decisions import ChannelError
from k3os.controllers.fleetapi import PLANS, SECRETS
from k3os.controllers.metrics import PLAN_HALTED, PLAN_NODES
from k3os.controllers.plan import _ANSWERED as ANSWERED
from k3os.controllers.plan import PlanController, PlanSettings, fetch_channel_location
from k3os.sim.channel import ChannelServer
from tests.unit.controllers.fleetfakes import Crash, FleetKube

NS = "k3os-system"
CORDONED_BY = "upgrade.k3os.io/cordoned-by"


def node(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"upgrade": "yes", **labels}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def plan(name: str = "p", **spec: Any) -> dict[str, Any]:
    body = {
        "version": "v2",
        "concurrency": 1,
        "nodeSelector": {"matchLabels": {"upgrade": "yes"}},
        "upgrade": {"image": "k3os-$(LATEST_VERSION).bundle"},
        **spec,
    }
    return {"metadata": {"name": name, "namespace": NS}, "spec": body}


class Env:
    def __init__(self, *nodes: str, **spec: Any) -> None:
        self.kube = FleetKube()
        self.restart()
        for name in nodes:
            self.kube.put(NODES, node(name))
        self.kube.put(PLANS, plan(**spec))

    def restart(self) -> None:
        """A new controller (a restarted process) over the same API state."""
        self.informers = InformerSet(self.kube)  # type: ignore[arg-type]
        self.ctrl = PlanController(
            self.kube,  # type: ignore[arg-type]
            self.informers,
            settings=PlanSettings(resync=30.0, channel_poll=60.0, channel_timeout=2.0),
        )

    def node_writes(self) -> int:
        return self.kube.calls.count(("patch", "nodes"))

    def events(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.kube.of(EVENTS) if e["reason"] == reason]

    async def step(self, name: str = "p") -> float | None:
        self.kube.sync(self.informers)
        try:
            return await self.ctrl.reconcile((NS, name))
        finally:
            await self.ctrl.settle()

    def node(self, name: str) -> dict[str, Any]:
        return self.kube.peek(NODES, name)

    def annotations(self, name: str) -> dict[str, str]:
        return dict(self.node(name)["metadata"].get("annotations") or {})

    def record(self, name: str, plan_name: str = "p") -> Any:
        raw = self.annotations(name).get(f"status.upgrade.k3os.io/{plan_name}")
        return json.loads(raw) if raw else None

    def status(self, name: str = "p") -> dict[str, Any]:
        return dict(self.kube.peek(PLANS, name, NS).get("status") or {})

    def condition(self, type_: str, name: str = "p") -> dict[str, Any]:
        found = [c for c in self.status(name).get("conditions", []) if c["type"] == type_]
        return found[0] if found else {}

    def reasons(self) -> list[str]:
        return [e["reason"] for e in self.kube.of(EVENTS)]

    async def agent(self, name: str, phase: str = "Complete", version: str = "v2") -> None:
        """Answer the node's request as its agent would."""
        raw = self.annotations(name)[request_key("p")]
        outcome = UpgradeOutcome(
            hash=json.loads(raw)["hash"], phase=phase, version=version, reason="HealthCheckFailed"
        )
        patch = {"metadata": {"annotations": {outcome_key("p"): outcome.encode()}}}
        await self.kube.patch(NODES, name, patch)

    async def agent_finishing(self, name: str) -> None:
        """Answer `Complete` as today's agent does: with the finish when the request
        hands it over (`k3os.agent.upgrades.outcome_patch`)."""
        raw = self.annotations(name)[request_key("p")]
        outcome = UpgradeOutcome(hash=json.loads(raw)["hash"], phase="Complete", version="v2")
        await self.kube.patch(NODES, name, outcome_patch("p", outcome, None, self.node(name)))


async def test_a_node_goes_through_every_step_in_order() -> None:
    env = Env("n1", cordon=True)
    wait = await env.step()
    assert wait is not None and wait < 1
    assert env.status()["applying"] == ["n1"]
    assert env.record("n1")["phase"] == "Applying"
    assert env.node("n1")["spec"]["unschedulable"] is True
    assert env.annotations("n1")[CORDONED_BY] == f"{NS}/p"
    # status (the reservation) was written before the node
    writes = [c for c in env.kube.calls if c[0] == "patch"]
    assert writes[0] == ("patch", "plans/status") and writes[1] == ("patch", "nodes")

    await env.step()
    request = json.loads(env.annotations("n1")[request_key("p")])
    assert request == {
        "plan": f"{NS}/p",
        "hash": env.status()["latestHash"],
        "version": "v2",
        "image": "k3os-v2.bundle",
    }
    assert await env.step() is not None  # waits for the agent, nothing changes
    await env.agent("n1")
    await env.step()
    assert env.record("n1")["phase"] == "Complete"
    assert request_key("p") not in env.annotations("n1")
    await env.step()
    labels = env.node("n1")["metadata"]["labels"]
    assert labels["plan.upgrade.cattle.io/p"] == env.status()["latestHash"]
    assert not env.node("n1")["spec"].get("unschedulable")
    assert CORDONED_BY not in env.annotations("n1")
    await env.step()
    assert env.condition("Complete")["status"] == "True"
    assert PLAN_NODES.value(namespace=NS, plan="p", state="Done") == 1
    # a plan that cordons keeps its steps apart: start (cordon), hand-over, outcome + finish
    assert [c for c in env.kube.calls if c == ("patch", "nodes")] == [("patch", "nodes")] * 4
    for reason in ("Resolved", "NodesStarted", "Cordoned", "NodesHandedOver", "NodesDone"):
        assert reason in env.reasons()
    assert {"Uncordoned", "Complete"} <= set(env.reasons())


async def test_without_cordon_a_node_takes_two_writes_and_a_pass_one_plan_event() -> None:
    env = Env("n1", "n2", "n3", concurrency=3)
    await env.step()
    assert env.node_writes() == 3  # record + request in one write each
    for name in ("n1", "n2", "n3"):
        assert finish_key("p") in env.annotations(name)
        request = json.loads(env.annotations(name)[request_key("p")])
        assert env.record(name)["phase"] == "Applying"
        assert request["hash"] == env.record(name)["hash"] == env.status()["latestHash"]
    (started,) = env.events("NodesStarted")
    assert started["message"].startswith("3 node(s) started at hash ")
    assert started["message"].endswith(": n1, n2, n3")
    assert not [e for e in env.kube.of(EVENTS) if e["involvedObject"]["kind"] == "Node"]

    for name in ("n1", "n2", "n3"):
        await env.agent(name)
    status_writes = env.kube.calls.count(("patch", "plans/status"))
    env.kube.sync(env.informers)
    answered = env.ctrl.nodes.cache.by_index(ANSWERED, "p")
    assert [n["metadata"]["name"] for n in answered] == ["n1", "n2", "n3"]
    await env.step()
    assert env.node_writes() == 3 + 3 + 3  # the agents' outcomes; record + done label in one
    # a taken outcome stays on its node, out of the index passes read
    assert outcome_key("p") in env.annotations("n1")
    assert env.ctrl.nodes.cache.by_index(ANSWERED, "p") == []
    assert env.kube.calls.count(("patch", "plans/status")) == status_writes + 1
    for name in ("n1", "n2", "n3"):
        assert env.record(name)["phase"] == "Complete"
        assert env.node(name)["metadata"]["labels"]["plan.upgrade.cattle.io/p"]
        assert request_key("p") not in env.annotations(name)
        # the finish beside the request, which these agents (of an earlier version) left
        # alone, goes with the request
        assert finish_key("p") not in env.annotations(name)
    assert env.condition("Complete")["status"] == "True"  # in the same pass
    (done,) = env.events("NodesDone")
    assert done["message"] == "3 node(s) done at v2: n1, n2, n3"
    assert not [e for e in env.kube.of(EVENTS) if e["involvedObject"]["kind"] == "Node"]
    calls = len(env.kube.calls)
    await env.step()  # nothing left to do: no write at all
    assert [c for c in env.kube.calls[calls:] if c[0] != "get"] == []


async def test_a_slot_freed_by_an_outcome_is_filled_in_the_same_pass() -> None:
    env = Env("n1", "n2", concurrency=1)
    await env.step()
    (first,) = env.status()["applying"]
    await env.agent(first)
    await env.step()
    (second,) = env.status()["applying"]
    assert second != first
    assert env.node(first)["metadata"]["labels"]["plan.upgrade.cattle.io/p"]
    assert request_key("p") in env.annotations(second)


async def test_a_post_complete_delay_keeps_outcome_and_finish_apart() -> None:
    env = Env("n1", postCompleteDelay="1h")
    await env.step()
    await env.agent("n1")
    await env.step()
    assert env.record("n1")["phase"] == "Complete"
    assert "plan.upgrade.cattle.io/p" not in env.node("n1")["metadata"]["labels"]
    assert env.status()["applying"] == ["n1"]
    assert "NodesUpgraded" in env.reasons() and "NodesDone" not in env.reasons()
    # the delay has passed: finished by a write of its own
    rec = env.record("n1") | {"since": "2000-01-01T00:00:00Z"}
    await env.kube.patch(
        NODES, "n1", {"metadata": {"annotations": {"status.upgrade.k3os.io/p": json.dumps(rec)}}}
    )
    await env.step()
    assert env.node("n1")["metadata"]["labels"]["plan.upgrade.cattle.io/p"]
    assert env.condition("Complete")["status"] == "True"
    assert "NodesDone" in env.reasons()


async def test_a_node_deleted_before_its_outcome_is_taken_is_let_go() -> None:
    env = Env("n1", "n2", concurrency=2)
    await env.step()
    await env.agent("n1")
    env.kube.sync(env.informers)
    del env.kube.objects[("nodes", "", "n1")]  # gone between the cache and the write
    await env.ctrl.reconcile((NS, "p"))
    await env.step()
    assert env.status()["applying"] == ["n2"]


async def test_a_crash_after_a_folded_write_is_picked_up_after_a_restart() -> None:
    env = Env("n1", "n2", concurrency=2)
    # killed after reserving both nodes, before recording either
    env.kube.crash_on.add("nodes")
    with pytest.raises(Crash):
        await env.step()
    assert sorted(env.status()["applying"]) == ["n1", "n2"]
    env.restart()
    await env.step()
    assert {env.record(n)["phase"] for n in ("n1", "n2")} == {"Applying"}
    assert all(request_key("p") in env.annotations(n) for n in ("n1", "n2"))
    # killed after the outcome + done write, before the status frees the slot
    await env.agent("n1")
    env.kube.crash_on.add("plans/status")
    with pytest.raises(Crash):
        await env.step()
    assert env.node("n1")["metadata"]["labels"]["plan.upgrade.cattle.io/p"]
    assert sorted(env.status()["applying"]) == ["n1", "n2"]
    env.restart()
    writes = env.node_writes()
    await env.step()
    assert env.node_writes() == writes  # only its slot was left to free
    assert env.status()["applying"] == ["n2"]
    assert env.record("n2")["phase"] == "Applying"


async def test_a_failed_outcome_halts_and_keeps_the_node_cordoned() -> None:
    env = Env("n1", "n2", cordon=True)
    await env.step()
    await env.step()
    (started,) = env.status()["applying"]
    await env.agent(started, phase="Failed", version="v1")
    await env.step()
    await env.step()
    assert env.record(started)["phase"] == "Failed"
    assert env.condition("Halted")["status"] == "True"
    assert env.status()["failed"] == [started]
    assert env.node(started)["spec"]["unschedulable"] is True
    other = ({"n1", "n2"} - {started}).pop()
    assert env.record(other) is None
    assert PLAN_HALTED.value(namespace=NS, plan="p") == 1
    assert "NodeFailed" in env.reasons() and "Halted" in env.reasons()
    # the outcome of the last run is cleared when a retry starts the node again
    await env.kube.patch(
        NODES, started, {"metadata": {"annotations": {"retry.upgrade.k3os.io/p": "1"}}}
    )
    await env.step()
    assert env.record(started)["phase"] == "Applying"
    assert outcome_key("p") not in env.annotations(started)


async def test_the_hash_changing_before_the_hand_over_restarts_the_node() -> None:
    env = Env("n1", cordon=True)  # cordoning keeps start and hand-over apart
    await env.step()
    first = env.record("n1")["hash"]
    await env.kube.patch(PLANS, "p", {"spec": {"version": "v3"}}, namespace=NS)
    await env.step()
    await env.step()
    assert env.record("n1")["hash"] != first
    assert json.loads(env.annotations("n1")[request_key("p")])["version"] == "v3"


async def test_a_node_handed_over_finishes_its_run_then_starts_at_the_new_hash() -> None:
    env = Env("n1")
    await env.step()
    first = env.record("n1")["hash"]
    assert json.loads(env.annotations("n1")[request_key("p")])["hash"] == first
    await env.kube.patch(PLANS, "p", {"spec": {"version": "v3"}}, namespace=NS)
    await env.step()
    assert env.record("n1")["hash"] == first  # the agent is at work: not abandoned
    await env.agent("n1")
    await env.step()
    again = env.record("n1")
    assert again["hash"] != first and again["phase"] == "Applying"
    assert outcome_key("p") not in env.annotations("n1")
    assert json.loads(env.annotations("n1")[request_key("p")])["version"] == "v3"
    assert "plan.upgrade.cattle.io/p" not in env.node("n1")["metadata"]["labels"]


def pod(name: str, node_name: str, **extra: Any) -> dict[str, Any]:
    owner = [{"kind": "ReplicaSet", "name": "rs", "controller": True, "uid": "x"}]
    return {
        "metadata": {"name": name, "namespace": "default", "ownerReferences": owner, **extra},
        "spec": {"nodeName": node_name},
        "status": {"phase": "Running"},
    }


async def test_a_drain_evicts_waits_on_a_budget_and_fails_on_timeout() -> None:
    env = Env("n1", drain={"timeout": "0s"})
    env.kube.put(PODS, pod("free", "n1"))
    env.kube.put(PODS, pod("held", "n1"))
    env.kube.put(PODS, pod("elsewhere", "n2"))
    env.kube.refuse_evictions.add("default/held")
    await env.step()
    wait = await env.step()
    assert env.kube.evicted == ["default/free"]
    assert wait is not None and wait <= 1.0
    assert request_key("p") not in env.annotations("n1")
    assert "Draining" in env.reasons()

    # a timeout that fails the node: uncordoned, since its OS was not touched
    await env.kube.patch(PLANS, "p", {"spec": {"drain": {"timeout": "1s"}}}, namespace=NS)
    since = "2000-01-01T00:00:00Z"
    rec = env.record("n1") | {"since": since}
    annotations = {"status.upgrade.k3os.io/p": json.dumps(rec)}
    await env.kube.patch(NODES, "n1", {"metadata": {"annotations": annotations}})
    await env.step()
    assert env.record("n1")["reason"] == "DrainTimeout"
    assert not env.node("n1")["spec"].get("unschedulable")
    assert CORDONED_BY not in env.annotations("n1")


async def test_a_forced_drain_deletes_what_is_left_and_hands_over() -> None:
    env = Env("n1", drain={"timeout": "1s", "onTimeout": "force"})
    env.kube.put(PODS, pod("held", "n1"))
    env.kube.refuse_evictions.add("default/held")
    await env.step()
    rec = env.record("n1") | {"since": "2000-01-01T00:00:00Z"}
    annotations = {"status.upgrade.k3os.io/p": json.dumps(rec)}
    await env.kube.patch(NODES, "n1", {"metadata": {"annotations": annotations}})
    await env.step()
    assert env.kube.deleted == ["default/held"]
    assert request_key("p") in env.annotations("n1")
    assert "DrainForced" in env.reasons()


async def test_a_blocked_drain_fails_at_once() -> None:
    env = Env("n1", drain={})
    bare = pod("bare", "n1")
    bare["metadata"]["ownerReferences"] = []
    env.kube.put(PODS, bare)
    await env.step()
    await env.step()
    rec = env.record("n1")
    assert rec["phase"] == "Failed" and rec["reason"] == "DrainBlocked"
    assert "drain.force" in rec["message"]


async def test_an_invalid_plan_is_reported_once_and_not_retried() -> None:
    env = Env("n1")
    env.kube.put(PLANS, {"metadata": {"name": "bad", "namespace": NS}, "spec": {"upgrade": {}}})
    with pytest.raises(PermanentError):
        await env.step("bad")
    await env.step("bad")  # unchanged: not judged (nor logged) again
    assert env.reasons().count("InvalidPlan") == 1
    complete = {c["type"]: c for c in env.kube.peek(PLANS, "bad", NS)["status"]["conditions"]}
    assert complete["Complete"]["reason"] == "InvalidPlan"
    assert "spec.upgrade.image" in complete["Complete"]["message"]
    # Unchanged (every Node change queues every Plan): not judged, written or raised again.
    writes = len(env.kube.calls)
    assert await env.ctrl._reconcile((NS, "bad")) is None
    assert len(env.kube.calls) == writes
    # Fixed: a pass like any other's.
    await env.kube.patch(PLANS, "bad", {"spec": {"upgrade": {"image": "i"}, "version": "v2"}},
                         namespace=NS)  # fmt: skip
    await env.step("bad")
    assert env.reasons().count("InvalidPlan") == 1


async def test_an_unreachable_channel_is_a_temporary_error_with_a_condition() -> None:
    env = Env("n1")
    await env.kube.patch(
        PLANS, "p", {"spec": {"version": None, "channel": "http://127.0.0.1:9/x"}}, namespace=NS
    )
    with pytest.raises(TemporaryError):
        await env.step()
    assert env.condition("LatestResolved")["reason"] == "ResolveFailed"
    assert "ResolveFailed" in env.reasons()


async def test_a_channel_is_resolved_through_its_redirect_and_cached() -> None:
    with ChannelServer({"stable": "v9.1"}) as channel:
        env = Env("n1")
        spec = {"spec": {"version": None, "channel": channel.channel_url("stable")}}
        await env.kube.patch(PLANS, "p", spec, namespace=NS)
        await env.step()
        assert env.status()["latestVersion"] == "v9.1"
        channel.set_channel("stable", "v9.2")
        await env.step()
        assert env.status()["latestVersion"] == "v9.1"  # polled again only after channel_poll
        assert fetch_channel_location(channel.channel_url("stable")).endswith("/v9.2")
        with pytest.raises(ChannelError, match="HTTP 404"):
            fetch_channel_location(channel.url + "/channels/none")


async def test_secrets_are_hashed_and_a_missing_one_waits() -> None:
    env = Env("n1", secrets=[{"name": "creds", "path": "/run/creds"}])
    with pytest.raises(TemporaryError, match="creds"):
        await env.step()
    env.kube.put(SECRETS, {"metadata": {"name": "creds", "namespace": NS}, "data": {"k": "dg=="}})
    await env.step()
    first = env.status()["latestHash"]
    await env.kube.patch(SECRETS, "creds", {"data": {"k": "dzI="}}, namespace=NS)
    await env.step()
    assert env.status()["latestHash"] != first


async def test_exclusive_plans_do_not_share_a_node_and_deleted_plans_are_forgotten() -> None:
    env = Env("n1", exclusive=True)
    env.kube.put(PLANS, plan("q", exclusive=True))
    await env.step("p")
    await env.step("q")
    assert env.status("p")["applying"] == ["n1"]
    assert not env.status("q").get("applying")
    await env.kube.delete(PLANS, "q", NS)
    assert await env.step("q") is None
    assert PLAN_NODES.value(namespace=NS, plan="q", state="Pending") is None


async def test_a_paused_plan_starts_nothing_and_says_why() -> None:
    env = Env("n1", paused=True)
    await env.step()
    assert env.record("n1") is None
    assert env.condition("Complete")["reason"] == "Paused"
    assert "Paused" in env.reasons()


async def test_node_changes_wake_plans_but_heartbeats_do_not() -> None:
    env = Env("n1")
    env.kube.sync(env.informers)
    queue = env.ctrl.controller.queue
    while len(queue):
        queue.done(await queue.get())
    n1 = env.node("n1")
    beat = json.loads(json.dumps(n1))
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = "2030-01-01T00:00:00Z"
    env.ctrl._on_node("MODIFIED", beat, n1)
    assert len(queue) == 0
    relabelled = json.loads(json.dumps(n1))
    relabelled["metadata"]["labels"]["x"] = "y"
    env.ctrl._on_node("MODIFIED", relabelled, n1)
    assert len(queue) == 1


async def test_a_node_unhealthy_past_the_gate_timeout_fails() -> None:
    env = Env("n1", "n2", healthGate={"timeout": "1s"}, cordon=True)
    await env.step()
    await env.step()
    (started,) = env.status()["applying"]
    # it comes back from its upgrade not Ready: recorded complete, not done
    not_ready = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    await env.kube.patch(NODES, started, not_ready)
    await env.agent(started)
    await env.step()
    assert env.record(started)["phase"] == "Complete"
    assert "plan.upgrade.cattle.io/p" not in env.node(started)["metadata"]["labels"]
    assert env.node(started)["spec"]["unschedulable"] is True
    assert "NodesUpgraded" in env.reasons()
    # ... a while ago
    rec = env.record(started) | {"since": "2000-01-01T00:00:00Z"}
    patch = {"metadata": {"annotations": {"status.upgrade.k3os.io/p": json.dumps(rec)}}}
    await env.kube.patch(NODES, started, patch)
    await env.step()
    failed = env.record(started)
    assert failed["phase"] == "Failed" and failed["reason"] == "HealthGateTimeout"
    assert env.node(started)["spec"]["unschedulable"] is True
    await env.step()
    assert env.condition("Halted")["status"] == "True"


async def test_a_canary_waits_for_its_approval() -> None:
    env = Env("n1", "n2", "n3", concurrency=3, canary={"nodes": 1})
    await env.step()
    await env.step()
    (canary,) = env.status()["applying"]
    await env.agent(canary)
    for _ in range(3):
        await env.step()
    assert env.condition("Complete")["reason"] == "CanaryWaiting"
    assert "CanaryWaiting" in env.reasons()
    latest = env.status()["latestHash"]
    approve = {"metadata": {"annotations": {"upgrade.k3os.io/canary-approved": latest}}}
    await env.kube.patch(PLANS, "p", approve, namespace=NS)
    await env.step()
    assert len(env.status()["applying"]) == 2


async def test_a_deleted_plan_leaves_no_node_cordoned_but_its_failed_ones() -> None:
    env = Env("n1", "n2", concurrency=2, cordon=True)
    await env.step()
    await env.step()
    await env.agent("n1", phase="Failed", version="v1")
    await env.step()
    assert env.record("n1")["phase"] == "Failed"
    assert env.record("n2")["phase"] == "Applying"
    await env.kube.delete(PLANS, "p", NS)
    await env.step()
    assert env.node("n1")["spec"]["unschedulable"] is True  # failed: kept for inspection
    assert env.record("n1")["phase"] == "Failed"
    assert not env.node("n2")["spec"].get("unschedulable")
    assert CORDONED_BY not in env.annotations("n2")
    assert env.record("n2") is None and request_key("p") not in env.annotations("n2")


async def test_an_agent_silent_past_the_deadline_fails_its_node() -> None:
    env = Env("n1", jobActiveDeadlineSecs=60)
    await env.step()
    await env.step()
    wait = await env.step()
    assert wait is not None and 0 < wait <= 60
    rec = env.record("n1") | {"since": "2000-01-01T00:00:00Z"}
    annotations = {"status.upgrade.k3os.io/p": json.dumps(rec)}
    await env.kube.patch(NODES, "n1", {"metadata": {"annotations": annotations}})
    await env.step()
    failed = env.record("n1")
    assert failed["phase"] == "Failed" and failed["reason"] == "DeadlineExceeded"
    assert request_key("p") not in env.annotations("n1")


def _shipped_plan() -> dict[str, Any]:
    import yaml

    path = Path(__file__).parents[3] / "examples/plans/k3os-latest.yaml"
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


async def test_the_plan_k3os_shipped_selects_opted_in_nodes_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = _shipped_plan()
    env = Env()
    env.kube.objects.clear()
    master = {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}
    for name, labels, taints in (
        ("opted-in", {"k3os.io/mode": "local", "k3os.io/upgrade": "latest"}, [master]),
        ("live", {"k3os.io/mode": "live", "k3os.io/upgrade": "latest"}, []),
        ("opted-out", {"k3os.io/mode": "local", "k3os.io/upgrade": "false"}, []),
        ("not-asked", {"k3os.io/mode": "local"}, []),
    ):
        body = node(name, **labels)
        body["spec"]["taints"] = taints
        env.kube.put(NODES, body)
    env.kube.put(PLANS, shipped)
    location = "https://github.com/rancher/k3os/releases/tag/v0.21.5-k3s2r1"
    monkeypatch.setattr("k3os.controllers.plan.fetch_channel_location", lambda url, t: location)
    await env.step("k3os-latest")
    await env.step("k3os-latest")
    status = dict(env.kube.peek(PLANS, "k3os-latest", NS)["status"])
    assert status["latestVersion"] == "v0.21.5-k3s2r1"
    assert status["applying"] == ["opted-in"]
    request = json.loads(env.annotations("opted-in")[request_key("k3os-latest")])
    assert request["image"] == "rancher/k3os:v0.21.5-k3s2r1"
    assert env.node("opted-in")["spec"]["unschedulable"] is True  # drain implies cordon


async def test_an_outcome_brings_the_next_pass_sooner_than_the_spacing() -> None:
    """An agent's outcome frees a slot, which is a rollout's critical path: the pass after
    it waits `answer_spacing`, not `pass_spacing`, even when it was already waiting."""
    env = Env("n1", "n2", concurrency=1)
    env.ctrl.settings = PlanSettings(pass_spacing=30.0, answer_spacing=0.0)
    loop = asyncio.get_running_loop()
    await env.step()
    (started,) = env.status()["applying"]
    # A change that is no outcome waits the whole spacing (a lower bound only: no timing).
    waiting = asyncio.create_task(env.step())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await env.agent(started)
    env.kube.sync(env.informers)  # the outcome's event: the waiting pass goes at once
    await asyncio.wait_for(waiting, 10)
    assert env.record(started)["phase"] == "Complete"
    (other,) = env.status()["applying"]
    assert other != started
    # An outcome that comes in after a pass ended: the next pass is not held either.
    await env.agent(other)
    env.kube.sync(env.informers)
    before = loop.time()
    await asyncio.wait_for(env.step(), 10)
    assert loop.time() - before < 30
    assert env.status().get("applying") in (None, [])


async def test_only_a_new_outcome_hurries_the_next_pass() -> None:
    env = Env("n1", concurrency=1)
    await env.step()
    key = (NS, "p")
    asked = copy.deepcopy(env.node("n1"))
    await env.agent("n1")
    answered = env.node("n1")
    relabelled = copy.deepcopy(answered)
    relabelled["metadata"].setdefault("labels", {})["site"] = "depot"
    env.ctrl._on_node("MODIFIED", relabelled, answered)  # the same outcome, a label changed
    assert key not in env.ctrl._answered or not env.ctrl._answered[key].is_set()
    env.ctrl._on_node("MODIFIED", answered, asked)  # the outcome came in
    assert env.ctrl._answered[key].is_set()


async def test_outcomes_left_for_the_next_pass_hurry_it() -> None:
    """A pass takes at most 25 outcomes; the rest wait for the next, which is not spaced."""
    names = [f"n{i:02d}" for i in range(30)]
    env = Env(*names, concurrency=30)
    await env.step()
    assert len(env.status()["applying"]) == 30
    for name in names:
        await env.agent(name)
    await env.step()
    taken = [n for n in names if env.record(n)["phase"] == "Complete"]
    assert len(taken) == 25
    assert env.ctrl._answered[(NS, "p")].is_set()


async def test_passes_within_a_second_share_their_summary_events() -> None:
    """A rollout's Plan Events do not grow with how often its passes run: the passes within
    a second of a plan's last summary gather into its next one."""
    env = Env("n1", "n2", concurrency=1)
    env.ctrl.settings = PlanSettings(pass_spacing=0.0)

    async def unsettled_pass() -> None:
        env.kube.sync(env.informers)
        await env.ctrl.reconcile((NS, "p"))
        await asyncio.sleep(0.05)  # what is due is recorded meanwhile

    await unsettled_pass()  # n1 started: summarised at once
    (first,) = env.events("NodesStarted")
    one = first["message"].rsplit(": ", 1)[1]  # the rollout's order is the Plan's own
    other = {"n1": "n2", "n2": "n1"}[one]
    await env.agent(one)
    await unsettled_pass()  # one done, the other started: within the second, held
    assert len(env.events("NodesStarted")) == 1 and not env.events("NodesDone")
    await env.agent(other)
    await unsettled_pass()  # the other done: gathered with the first
    assert not env.events("NodesDone")
    await env.ctrl.settle()  # records what waits (a stop, or the second passing)
    started = [e["message"] for e in env.events("NodesStarted")]
    assert len(started) == 2 and started[1].endswith(f": {other}"), started
    (done,) = env.events("NodesDone")
    assert done["message"].startswith("2 node(s) done at") and done["message"].endswith(
        ": n1, n2"
    ), done


async def test_passes_over_one_plan_are_spaced_and_changes_between_them_wait() -> None:
    """A pass looks at every node, so passes come at most one per `pass_spacing`: what
    changes meanwhile (a burst of outcomes) is taken by the next pass together."""
    env = Env("n1", "n2", concurrency=2)
    env.ctrl.settings = PlanSettings(pass_spacing=0.3)
    loop = asyncio.get_running_loop()
    await env.step()
    ended = loop.time()
    await env.step()  # only starts once the spacing has passed (a lower bound: no timing)
    assert loop.time() - ended >= 0.3
    assert env.status()["applying"] == ["n1", "n2"]
    other = PlanSettings(pass_spacing=0.0)
    env.ctrl.settings = other
    started = loop.time()
    await env.step()  # no spacing: at once
    assert env.ctrl._last_pass[(NS, "p")] >= started


async def test_agents_that_finish_their_nodes_leave_the_controller_only_the_slots() -> None:
    """A plan with nothing left to decide after a success: each agent's answer labels its
    node done; the controller's pass frees the slots (one status write) and writes no
    Node, and its summary still names the nodes done."""
    env = Env("n1", "n2", "n3", concurrency=3)
    await env.step()
    assert env.node_writes() == 3
    asked = {name: copy.deepcopy(env.node(name)) for name in ("n1", "n2", "n3")}
    for name in ("n1", "n2", "n3"):
        await env.agent_finishing(name)
    assert env.node_writes() == 3 + 3
    env.ctrl._on_node("MODIFIED", env.node("n1"), asked["n1"])  # the answer's event
    assert env.ctrl._answered[(NS, "p")].is_set()  # hurries the next pass
    status_writes = env.kube.calls.count(("patch", "plans/status"))
    await env.step()
    assert env.node_writes() == 3 + 3  # nothing for the controller to write to a node
    assert env.kube.calls.count(("patch", "plans/status")) == status_writes + 1
    assert env.status().get("applying") in (None, [])
    assert env.condition("Complete")["status"] == "True"
    for name in ("n1", "n2", "n3"):
        assert env.record(name)["phase"] == "Complete"
        assert env.node(name)["metadata"]["labels"]["plan.upgrade.cattle.io/p"]
        assert request_key("p") not in env.annotations(name)
    (done,) = env.events("NodesDone")
    assert done["message"] == "3 node(s) done at v2: n1, n2, n3"
    assert PLAN_NODES.value(namespace=NS, plan="p", state="Done") == 3


async def test_a_node_its_agent_finished_unhealthy_is_timed_by_the_controller() -> None:
    """The agent's finish carries no time; a node that fails the gate gets the controller's
    time in its record, then fails past the gate's timeout like any other, which takes its
    done label away."""
    env = Env("n1", healthGate={"timeout": "1s"})
    await env.step()
    not_ready = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    await env.kube.patch(NODES, "n1", not_ready)
    await env.agent_finishing("n1")
    assert "since" not in env.record("n1")
    await env.step()
    assert env.record("n1")["phase"] == "Complete" and env.record("n1")["since"]
    assert env.status()["applying"] == ["n1"]  # keeps its slot
    rec = env.record("n1") | {"since": "2000-01-01T00:00:00Z"}  # ... a while ago
    patch = {"metadata": {"annotations": {"status.upgrade.k3os.io/p": json.dumps(rec)}}}
    await env.kube.patch(NODES, "n1", patch)
    await env.step()
    failed = env.record("n1")
    assert failed["phase"] == "Failed" and failed["reason"] == "HealthGateTimeout"
    assert "plan.upgrade.cattle.io/p" not in env.node("n1")["metadata"]["labels"]
