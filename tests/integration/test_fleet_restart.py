"""A rollout survives its server: SIGKILL the server (and with it the Plan controller) in
the middle of a rollout, start it again on the same SQLite file, and the rollout finishes
from what the API holds, with no node upgraded twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.integration._fleet import condition, eventually, real_fleet

pytestmark = pytest.mark.integration

PLAN = """
apiVersion: upgrade.cattle.io/v1
kind: Plan
metadata: {name: steady, namespace: k3os-system}
spec:
  version: v1.1.0
  concurrency: 1
  nodeSelector: {matchLabels: {k3os.io/upgrade: "true"}}
  cordon: true
  upgrade: {image: k3os-$(LATEST_VERSION).bundle}
"""


def test_a_rollout_finishes_after_the_server_is_killed(tmp_path: Path) -> None:
    nodes = {f"r{i}": {} for i in range(3)}
    with real_fleet(tmp_path, nodes) as env:
        env.kubectl("label", "node", *nodes, "k3os.io/upgrade=true")
        env.apply(PLAN)

        def one_done() -> bool:
            labels = [n["metadata"]["labels"] for n in env.nodes().values()]
            return any("plan.upgrade.cattle.io/steady" in x for x in labels)

        eventually(one_done, "a first node done", 120, env)
        env.crash_and_restart_server()

        def complete() -> bool:
            plan = env.plan("steady")
            return condition(plan, "Complete").get("status") == "True"

        eventually(complete, "the rollout complete after the restart", 180, env)
        for name, node in env.nodes().items():
            assert node["metadata"]["labels"]["k3os.io/version"] == "v1.1.0", name
            assert not node["spec"].get("unschedulable"), name
        # Each agent's log says every time it staged a version and rebooted into it: the
        # ground truth for "upgraded once". Events are best effort (an agent posting one at
        # the moment of the SIGKILL loses it), so they may only be missing, never doubled.
        staged = Counter(
            name
            for name in nodes
            for line in (env.work / "nodes" / name / "agent.log").read_text().splitlines()
            if "staged v1.1.0; rebooting" in line
        )
        assert staged == Counter({name: 1 for name in nodes}), staged
        started = Counter(
            e["involvedObject"]["name"]
            for e in env.events("default")
            if e["reason"] == "UpgradeStarted"
            and e["source"].get("component") != "k3os-plan-controller"
        )
        assert all(count == 1 for count in started.values()), started
        assert set(started) <= set(nodes), started
