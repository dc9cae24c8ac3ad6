"""Upgrade Plans end to end on a small real fleet: a channel resolved through a real 302,
batches by concurrency, cordon and uncordon, the hand-off to real agents that stage, reboot
and health-check signed bundles; a broken bundle rolls back, halts the plan at its failure
budget and is retried only on an explicit retry token; drains evict through the
PodDisruptionBudget and `drain.onTimeout` decides what an expired drain does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from k3os.sim.channel import ChannelServer
from tests.integration._fleet import (
    FleetEnv,
    condition,
    eventually,
    plan_manifest,
    real_fleet,
    wait_condition,
)

pytestmark = pytest.mark.integration

NODES = ("p1", "p2", "p3")
RECORD = "status.upgrade.k3os.io/"
CORDONED_BY = "upgrade.k3os.io/cordoned-by"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetEnv]:
    work = tmp_path_factory.mktemp("fleet-plan")
    with real_fleet(work, {n: {"site": "x"} for n in NODES}, broken=("v1.2.0",)) as env:
        env.kubectl("label", "node", *NODES, "k3os.io/upgrade=true")
        yield env


@pytest.fixture(scope="module")
def channel() -> Iterator[ChannelServer]:
    with ChannelServer({"stable": "v1.1.0"}) as server:
        yield server


def record(node: Any, plan: str) -> Any:
    raw = (node["metadata"].get("annotations") or {}).get(RECORD + plan)
    return json.loads(raw) if raw else None


def test_a_channel_plan_upgrades_every_node_in_batches(
    env: FleetEnv, channel: ChannelServer
) -> None:
    env.apply(
        plan_manifest(
            "good",
            f"""
channel: {channel.channel_url("stable")}
concurrency: 2
nodeSelector: {{matchLabels: {{k3os.io/upgrade: "true"}}}}
drain: {{timeout: 30s}}
upgrade: {{image: k3os-$(LATEST_VERSION).bundle}}
""",
        )
    )
    plan = wait_condition(env, "good", "Complete")
    latest = plan["status"]["latestHash"]
    assert plan["status"]["latestVersion"] == "v1.1.0"
    assert not plan["status"].get("applying")
    for name, node in env.nodes().items():
        labels = node["metadata"]["labels"]
        assert labels["plan.upgrade.cattle.io/good"] == latest, name
        assert labels["k3os.io/version"] == "v1.1.0", name
        assert not node["spec"].get("unschedulable"), name
        assert CORDONED_BY not in (node["metadata"].get("annotations") or {}), name
        assert record(node, "good")["phase"] == "Complete"
    plan_events = env.events("k3os-system")
    plan_reasons = {e["reason"] for e in plan_events}
    assert {"Resolved", "NodesStarted", "NodesHandedOver", "NodesDone", "Complete"} <= plan_reasons
    done = [e["message"] for e in plan_events if e["reason"] == "NodesDone"]
    assert sorted(n for m in done for n in m.partition(": ")[2].split(", ")) == sorted(NODES)
    # on each Node: what the controller did to it, and the agent's own story of the upgrade
    node_reasons = {e["reason"] for e in env.events("default")}
    assert {
        "Cordoned",
        "Drained",
        "Uncordoned",
        "UpgradeStarted",
        "UpgradeComplete",
    } <= node_reasons
    metrics = env.metrics()
    assert 'k3os_plan_nodes{namespace="k3os-system",plan="good",state="Done"} 3' in metrics
    assert 'k3os_plan_upgrade_seconds_count{namespace="k3os-system",plan="good"} 3' in metrics
    assert 'k3os_node_heartbeat_age_seconds{node="p1"}' in metrics
    assert "k3os_nodeconfig_apply_seconds_count" in metrics


def test_a_broken_image_rolls_back_and_halts_at_the_budget(env: FleetEnv) -> None:
    env.apply(
        plan_manifest(
            "broken",
            """
version: v1.2.0
concurrency: 1
nodeSelector: {matchLabels: {k3os.io/upgrade: "true"}}
cordon: true
upgrade: {image: k3os-$(LATEST_VERSION).bundle}
""",
        )
    )
    plan = wait_condition(env, "broken", "Halted", timeout=180)
    failed = plan["status"]["failed"]
    assert len(failed) == 1
    bad = failed[0]
    halted = condition(plan, "Halted")
    assert halted["reason"] == "FailureBudgetExhausted" and bad in halted["message"]
    nodes = env.nodes()
    rec = record(nodes[bad], "broken")
    assert rec["phase"] == "Failed" and rec["reason"] == "HealthCheckFailed"
    assert nodes[bad]["metadata"]["labels"]["k3os.io/version"] == "v1.1.0"  # rolled back
    assert nodes[bad]["spec"].get("unschedulable") is True  # kept for inspection
    assert nodes[bad]["metadata"]["annotations"][CORDONED_BY] == "k3os-system/broken"
    for name in set(NODES) - {bad}:
        assert record(nodes[name], "broken") is None, name
        assert not nodes[name]["spec"].get("unschedulable"), name
        assert nodes[name]["metadata"]["labels"]["k3os.io/version"] == "v1.1.0"
    warnings = [e for e in env.events("k3os-system") if e["reason"] == "NodeFailed"]
    assert warnings and warnings[0]["type"] == "Warning"

    # Never retried by itself: the record stays as it is while nothing changes.
    time.sleep(5)
    assert record(env.nodes()[bad], "broken") == rec
    assert env.plan("broken")["status"]["failed"] == [bad]

    # An explicit retry token runs it once more (and it fails once more).
    env.kubectl("annotate", "node", bad, "retry.upgrade.k3os.io/broken=1")

    def failed_again() -> Any:
        again = record(env.nodes()[bad], "broken")
        return again if again["phase"] == "Failed" and again["retry"] == "1" else None

    again = eventually(failed_again, "the retried node fails again", 180, env)
    assert again["since"] != rec["since"]
    env.kubectl("delete", "plan", "-n", "k3os-system", "broken")


def _guarded_pod(env: FleetEnv, node: str) -> None:
    env.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: guarded, namespace: default, labels: {{app: guarded}}}}
spec:
  nodeName: {node}
  containers: [{{name: app, image: registry.invalid/app:1}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: guarded, namespace: default}}
spec:
  minAvailable: 1
  selector: {{matchLabels: {{app: guarded}}}}
""")

    def running() -> bool:
        pod = env.get("pod", "-n", "default", "guarded")
        return bool(pod.get("status", {}).get("phase") == "Running")

    eventually(running, "the guarded pod running", 60, env)


def test_a_drain_held_by_a_budget_fails_the_node_then_force_goes_through(env: FleetEnv) -> None:
    node = next(n for n, obj in env.nodes().items() if not obj["spec"].get("unschedulable"))
    env.kubectl("label", "node", node, "drain-test=yes")
    _guarded_pod(env, node)
    spec = """
version: v1.1.0
nodeSelector: {matchLabels: {drain-test: "yes"}}
drain: {timeout: 3s, force: true, onTimeout: ON_TIMEOUT}
upgrade: {image: k3os-$(LATEST_VERSION).bundle}
"""
    env.apply(plan_manifest("drainer", spec.replace("ON_TIMEOUT", "fail")))
    plan = wait_condition(env, "drainer", "Halted")
    rec = record(env.nodes()[node], "drainer")
    assert rec["phase"] == "Failed" and rec["reason"] == "DrainTimeout", rec
    assert "default/guarded" in rec["message"]
    after = env.nodes()[node]
    assert not after["spec"].get("unschedulable")  # the OS was not touched: uncordoned
    assert CORDONED_BY not in (after["metadata"].get("annotations") or {})
    assert env.get("pod", "-n", "default", "guarded")["metadata"]["name"] == "guarded"
    assert plan["status"]["failed"] == [node]

    # onTimeout: force deletes what the budget holds back; a retry token starts it again.
    patch = '{"spec": {"drain": {"onTimeout": "force"}}}'
    env.kubectl("patch", "plan", "-n", "k3os-system", "drainer", "--type=merge", "-p", patch)
    env.kubectl("annotate", "node", node, "retry.upgrade.k3os.io/drainer=1")
    wait_condition(env, "drainer", "Complete")
    pods = env.get("pods", "-n", "default")["items"]
    assert "guarded" not in [p["metadata"]["name"] for p in pods]
    reasons = {e["reason"] for e in env.events("default")}
    assert {"DrainForced", "Draining"} & reasons
