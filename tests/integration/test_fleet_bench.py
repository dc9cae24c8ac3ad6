"""`scripts/bench fleet --smoke` and `scripts/bench footprint --smoke` run and print
well-formed figures (sizes only: no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {"bench", "case", "metric", "value", "unit", "baseline"}


def bench(name: str) -> tuple[dict[str, dict[str, Any]], str]:
    """The figures by case, and what the run said on stderr."""
    result = subprocess.run(
        [str(REPO / "scripts" / "bench"), name, "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    for row in rows:
        assert row.keys() >= REQUIRED, row
        assert row["bench"] == name
        assert isinstance(row["value"], int | float)
    cases = {row["case"]: row for row in rows}
    named = {row["baseline"] for row in rows} - {None}
    assert named <= cases.keys(), "every baseline names a figure of the same run"
    return cases, result.stderr


def test_bench_fleet_smoke_reports_both_datastores() -> None:
    cases, said = bench("fleet")
    for store in ("sqlite", "etcd"):
        for case in ("server-cpu", "server-rss", "request-rate", "client-cpu",
                     "config-fanout"):  # fmt: skip
            assert f"{store}/10/{case}" in cases, (store, case)
        # Every node renews its Lease in the window (longer than the interval): the first
        # renewal of a start patches it (or creates it), the later ones replace it. A GET
        # (the Node read before a status post, every 60 s) may fall outside a short window.
        renewals = {f"{store}/10/latency/{verb}" for verb in ("update", "patch", "create")}
        assert renewals & cases.keys(), sorted(cases)
        rollout = cases[f"{store}/rollout/10"]
        assert rollout["upgraded"] == 10 and rollout["ideal_s"] == 2.0
        assert rollout["agent_p50_s"] > 0 and "handoff_p50_s" in rollout
        # The agent's part after its reboot, split: the new connection's first answers,
        # then the outcome; the first wave (all ten nodes here) reported apart.
        assert 0 < rollout["reconnect_p50_s"] <= rollout["reconnect_max_s"]
        # Its new TLS connection is a part of it.
        assert 0 < rollout["connect_mean_s"] <= rollout["reconnect_mean_s"]
        assert rollout["first_wave_connect_max_s"] <= rollout["first_wave_reconnect_max_s"]
        assert rollout["answer_mean_s"] > 0
        assert rollout["first_wave_reconnect_max_s"] <= rollout["reconnect_max_s"]
        assert 0 <= rollout["first_wave_spread_s"] < rollout["total_s"]
        # The slowest slot's chain of nodes (five slots of two nodes here), which the
        # rollout waited for: how much later it ended, its first reconnect, its overhead.
        assert 0 <= rollout["slot_end_spread_s"] < rollout["total_s"]
        assert 0 < rollout["last_slot_first_reconnect_s"] < rollout["last_slot_overhead_s"]
        # Two rollouts one after another (the second to a new version): the slower one is
        # the figure, both beside it.
        assert len(rollout["ratio_runs"]) == 2
        assert rollout["value"] == max(rollout["ratio_runs"]), rollout
    assert cases["sqlite/10/server-cpu"]["baseline"] == "etcd/10/server-cpu"
    for case, row in cases.items():
        if "/latency/" in case:
            assert row["p99_ms"] >= row["value"] and row["count"] > 0, row
    assert "etcd/10/etcd-rss" in cases
    # The extra run: the same fleet on a server with one API worker, beside the figures above.
    workers = cases["sqlite/rollout/10/api-workers-1"]
    assert workers["baseline"] == "sqlite/rollout/10" and workers["upgraded"] == 10
    assert cases["sqlite/10/api-workers-1/server-rss"]["baseline"] == "sqlite/10/server-rss"
    goal = cases["goal/rollout-efficiency"]
    assert goal["target"] == 1.2 and isinstance(goal["met"], bool)
    # The rollout as throughput: the machine's CPU per node beside what the goal needs.
    assert goal["machine_cpu_ms_per_node"] > 0 and goal["machine_cpu_ms_per_node_for_goal"] > 0
    assert rollout["machine_cpu_ms_per_node"] > 0
    # A long run says how far it is on stderr (stdout holds only figures).
    for step in ("sqlite: 10 nodes joined", "etcd/10: server", "sqlite: rollout 2/2 over 10"):
        assert "fleet +" in said and step in said, (step, said)


def test_bench_footprint_smoke_reports_goals_and_anchors() -> None:
    cases, _ = bench("footprint")
    for case in ("server+agent/rss", "server+agent/idle-cpu", "agent/rss", "agent/idle-cpu",
                 "agent/startup", "bare-python/rss"):  # fmt: skip
        assert case in cases
    assert cases["agent/rss"]["baseline"] == "bare-python/rss"
    assert cases["agent/rss"]["mode"] == "smoke" and cases["agent/rss"]["idle_s"] == 10.0
    anchors = [row for case, row in cases.items() if case.startswith("anchor/")]
    assert anchors and all(row["measured"] is False for row in anchors)
    goals = {case: row for case, row in cases.items() if case.startswith("goal/")}
    assert set(goals) == {"goal/server+agent-rss", "goal/agent-rss", "goal/server-idle-cpu",
                          "goal/agent-idle-cpu"}  # fmt: skip
