"""`k3os status --fleet` and `k3os demo` pieces that need no cluster: the snapshot's rows and
tables, the live view's counts, where the kubeconfig comes from, and the demo's objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from k3os.apis import NodeConfig, Plan
from k3os.cli import fleetstatus
from k3os.cli.demo import bad_plan, demo_objects
from k3os.cli.demoview import rollout_state
from k3os.cli.fleetview import FleetSnapshot, render_snapshot
from k3os.cli.status import status


def _node(name: str, *, version: str, record: dict[str, Any] | None = None, **extra: Any) -> Any:
    annotations = {"status.upgrade.k3os.io/p": json.dumps(record)} if record else {}
    annotations["status.upgrade.k3os.io/garbled"] = "{"
    labels = {"k3os.io/version": version, "kubernetes.io/os": "linux", **extra.pop("labels", {})}
    return {
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": extra,
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def snapshot() -> FleetSnapshot:
    done = {"plan.upgrade.cattle.io/p": "h" * 56, "plan.upgrade.cattle.io/q": "disabled"}
    return FleetSnapshot(
        nodes=[
            _node("a", version="v2", record={"phase": "Complete"}, labels=done),
            _node("b", version="v1", record={"phase": "Failed"}, unschedulable=True),
            _node("c", version="v1", labels={"kubernetes.io/os": "windows"}),
        ],
        rendered={
            "a": {"spec": {"hash": "c" * 64}, "status": {"observedHash": "c" * 64}},
            "b": {"spec": {"hash": "d" * 64}, "status": {}},
        },
        nodeconfigs=[
            {"metadata": {"name": "site"}, "spec": {}, "status": {"matched": 2, "updated": 1}}
        ],
        plans=[
            {
                "metadata": {"name": "p", "namespace": "ns"},
                "spec": {"nodeSelector": {"matchLabels": {"kubernetes.io/os": "linux"}}},
                "status": {
                    "latestVersion": "v2",
                    "latestHash": "h" * 56,
                    "failed": ["b"],
                    "conditions": [
                        {"type": "Complete", "status": "False", "reason": "FailureBudgetExhausted"},
                        {"type": "Halted", "status": "True"},
                    ],
                },
            }
        ],
    )


def test_the_snapshot_sums_up_nodes_configs_and_plans() -> None:
    data = snapshot().as_dict()
    a, b, _ = data["nodes"]
    assert a["configApplied"] and not b["configApplied"] and b["cordoned"]
    assert a["plans"] == {"p": "Complete", "garbled": "?"}
    assert b["plans"]["p"] == "Failed"
    assert data["nodeconfigs"][0] == {
        "name": "site", "priority": 0, "matched": 2, "updated": 1, "failed": 0, "pending": 0,
    }  # fmt: skip
    plan = data["plans"][0]
    assert (plan["name"], plan["done"], plan["matched"], plan["state"], plan["failed"]) == (
        "ns/p",
        1,
        2,  # of the three nodes, the two its selector selects
        "Halted",
        ["b"],
    )
    console = Console(record=True, width=140)
    console.print(render_snapshot(snapshot()))
    text = console.export_text()
    assert "Nodes (3)" in text and "NodeConfigs" in text and "ns/p" in text and "1/2" in text
    state = rollout_state(snapshot())
    assert state == {
        "matched": 2, "configured": 1, "upgraded": 1, "applying": [], "failed": ["b"],
        "state": "Halted", "message": "", "version": "v2",
    }  # fmt: skip
    assert rollout_state(FleetSnapshot())["state"] == "Pending"


def test_a_plan_without_a_version_says_why_and_counts_only_its_nodes() -> None:
    unresolved = {
        "metadata": {"name": "latest", "namespace": "ns"},
        "spec": {"nodeSelector": {"matchExpressions": [{"key": "k3os.io/upgrade",
                                                        "operator": "Exists"}]}},
        "status": {"conditions": [
            {"type": "LatestResolved", "status": "False", "reason": "ResolveFailed",
             "message": "cannot reach the channel"},
        ]},
    }  # fmt: skip
    unset = {"metadata": {"name": "none", "namespace": "ns"}, "spec": {}, "status": {}}
    snap = FleetSnapshot(nodes=snapshot().nodes, plans=[unresolved, unset])
    row, none = snap.as_dict()["plans"]
    assert (row["state"], row["message"], row["matched"]) == (
        "ResolveFailed", "cannot reach the channel", 0,
    )  # fmt: skip
    assert none["matched"] == 0 and none["state"] == "Pending"


def test_the_kubeconfig_is_found_or_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "kc.yaml"
    given.write_text("apiVersion: v1\n")
    assert fleetstatus.find_kubeconfig(given) == given
    with pytest.raises(click.ClickException, match="no such kubeconfig"):
        fleetstatus.find_kubeconfig(tmp_path / "missing")
    monkeypatch.setattr(fleetstatus, "DEFAULT_KUBECONFIGS", (tmp_path / "none",))
    monkeypatch.setenv("KUBECONFIG", str(given))
    assert fleetstatus.find_kubeconfig(None) == given
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    result = CliRunner().invoke(status, ["--fleet"])
    assert result.exit_code == 1 and "no kubeconfig found" in result.output
    assert str(tmp_path / "nope") in result.output


def test_status_fleet_prints_json_from_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kc = tmp_path / "kc.yaml"
    kc.write_text("x")

    async def fake_fetch(path: Path) -> FleetSnapshot:
        assert path == kc
        return snapshot()

    monkeypatch.setattr("k3os.cli.fleetview.fetch_snapshot", fake_fetch)
    result = CliRunner().invoke(status, ["--kubeconfig", str(kc), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["plans"][0]["name"] == "ns/p"
    result = CliRunner().invoke(status, ["--fleet", "--kubeconfig", str(kc)])
    assert result.exit_code == 0 and "NodeConfigs" in result.output
    # Piped (not a terminal): whole words, not cut to 80 columns.
    wide = snapshot()
    wide.plans.append({
        "metadata": {"name": "k3os-upgrade-for-northern-wind-farms", "namespace": "k3os-system"},
        "spec": {"nodeSelector": {}},
        "status": {"latestVersion": "v1.22.333-rc.4", "latestHash": "f" * 56, "conditions": [
            {"type": "LatestResolved", "status": "False", "reason": "ResolveFailed"}]},
    })  # fmt: skip

    async def fetch_wide(path: Path) -> FleetSnapshot:
        return wide

    monkeypatch.setattr("k3os.cli.fleetview.fetch_snapshot", fetch_wide)
    result = CliRunner().invoke(status, ["--fleet", "--kubeconfig", str(kc)])
    assert "ResolveFailed" in result.output and "v1.22.333-rc.4" in result.output
    assert "…" not in result.output


def test_the_demo_applies_a_valid_nodeconfig_and_plan() -> None:
    nodeconfig, plan = demo_objects("http://127.0.0.1:1/channels/stable", 10)
    assert NodeConfig.model_validate(nodeconfig).metadata.name == "demo-site"
    parsed = Plan.model_validate(plan)
    assert parsed.spec.concurrency == 3 and parsed.spec.channel
    assert Plan.model_validate(demo_objects("http://x/c", 1)[1]).spec.concurrency == 1
    assert Plan.model_validate(bad_plan()).spec.canary is not None
