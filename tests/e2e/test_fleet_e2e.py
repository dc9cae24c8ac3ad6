"""The fleet end to end: 20 real agent processes on installed temporary roots against a
real server over TLS. A NodeConfig reaches every matching node and only those; a Plan with
concurrency 3 upgrades every node; a second Plan with a broken image rolls back on the first
node it touches, halts at its failure budget, leaves no node cordoned by us but the failed
one, and every other node stays on its old version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration._fleet import FleetEnv, condition, eventually, real_fleet

pytestmark = pytest.mark.e2e

NODES = {f"edge-{i:02d}": {"site": "berlin" if i % 2 == 0 else "paris"} for i in range(20)}
CORDONED_BY = "upgrade.k3os.io/cordoned-by"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetEnv]:
    work = tmp_path_factory.mktemp("fleet-e2e")
    with real_fleet(work, NODES, broken=("v1.2.0",)) as env:
        env.kubectl("label", "node", "--all", "k3os.io/upgrade=true")
        yield env


def record(node: Any, plan: str) -> Any:
    raw = (node["metadata"].get("annotations") or {}).get(f"status.upgrade.k3os.io/{plan}")
    return json.loads(raw) if raw else None


def plan(name: str, spec: str) -> str:
    head = "apiVersion: upgrade.cattle.io/v1\nkind: Plan\n"
    head += f"metadata: {{name: {name}, namespace: k3os-system}}\nspec:\n"
    return head + "\n".join("  " + line for line in spec.strip().splitlines()) + "\n"


def test_a_nodeconfig_reaches_every_matching_node_and_only_those(env: FleetEnv) -> None:
    env.apply("""
apiVersion: k3os.io/v1
kind: NodeConfig
metadata: {name: berlin-ntp}
spec:
  nodeSelector: {matchLabels: {site: berlin}}
  config:
    k3os: {ntp_servers: [ntp.berlin.example.com]}
""")

    def rendered() -> dict[str, Any] | None:
        items = {r["metadata"]["name"]: r for r in env.get("renderednodeconfigs")["items"]}
        berlin = [n for n, labels in NODES.items() if labels["site"] == "berlin"]
        done = all(
            (items[n]["spec"]["config"].get("k3os") or {}).get("ntp_servers")
            == ["ntp.berlin.example.com"]
            and items[n].get("status", {}).get("observedHash") == items[n]["spec"]["hash"]
            for n in berlin
        )
        return items if done and len(items) == len(NODES) else None

    items = eventually(rendered, "berlin nodes applied the NodeConfig", 120, env)
    for name, labels in NODES.items():
        names = [s.get("name") for s in items[name]["spec"]["sources"]]
        assert ("berlin-ntp" in names) == (labels["site"] == "berlin"), name
    eventually(
        lambda: env.get("nodeconfig", "berlin-ntp")["status"].get("updated") == 10,
        "status counts",
        60,
        env,
    )
    status = env.get("nodeconfig", "berlin-ntp")["status"]
    assert (status["matched"], status["failed"], status["pending"]) == (10, 0, 0)


def test_a_plan_with_concurrency_3_upgrades_every_node(env: FleetEnv) -> None:
    env.apply(
        plan(
            "k3os-v1-1",
            """
version: v1.1.0
concurrency: 3
nodeSelector: {matchLabels: {k3os.io/upgrade: "true"}}
drain: {timeout: 1m}
upgrade: {image: k3os-$(LATEST_VERSION).bundle}
""",
        )
    )

    def complete() -> Any:
        obj = env.plan("k3os-v1-1")
        return obj if condition(obj, "Complete").get("status") == "True" else None

    obj = eventually(complete, "every node upgraded", 240, env)
    latest = obj["status"]["latestHash"]
    for name, node in env.nodes().items():
        labels = node["metadata"]["labels"]
        assert labels["k3os.io/version"] == "v1.1.0", name
        assert labels["plan.upgrade.cattle.io/k3os-v1-1"] == latest, name
        assert not node["spec"].get("unschedulable"), name


def test_a_broken_image_rolls_back_halts_and_touches_no_other_node(env: FleetEnv) -> None:
    env.apply(
        plan(
            "k3os-v1-2",
            """
version: v1.2.0
concurrency: 3
canary: {nodes: 1}
nodeSelector: {matchLabels: {k3os.io/upgrade: "true"}}
drain: {timeout: 1m}
upgrade: {image: k3os-$(LATEST_VERSION).bundle}
""",
        )
    )

    def halted() -> Any:
        obj = env.plan("k3os-v1-2")
        return obj if condition(obj, "Halted").get("status") == "True" else None

    obj = eventually(halted, "the plan halted", 180, env)
    failed = obj["status"]["failed"]
    assert len(failed) == 1
    bad = failed[0]
    assert bad in condition(obj, "Halted")["message"]
    nodes = env.nodes()
    rec = record(nodes[bad], "k3os-v1-2")
    assert rec["phase"] == "Failed" and rec["reason"] == "HealthCheckFailed"
    assert nodes[bad]["metadata"]["labels"]["k3os.io/version"] == "v1.1.0"  # rolled back
    assert nodes[bad]["spec"].get("unschedulable") is True
    assert nodes[bad]["metadata"]["annotations"][CORDONED_BY] == "k3os-system/k3os-v1-2"
    for name, node in nodes.items():
        if name == bad:
            continue
        assert not node["spec"].get("unschedulable"), name
        assert CORDONED_BY not in (node["metadata"].get("annotations") or {}), name
        assert node["metadata"]["labels"]["k3os.io/version"] == "v1.1.0", name
        assert record(node, "k3os-v1-2") is None, name
