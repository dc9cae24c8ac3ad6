from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from k3os.agent.facts import (
    CONFIG_LABELS,
    NodeFacts,
    gather_facts,
    go_arch,
    label_patch,
    merge_ready,
    new_node,
    node_labels,
    node_status,
    parse_taint,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "taint"),
    [
        ("a=b:NoSchedule", {"key": "a", "value": "b", "effect": "NoSchedule"}),
        ("a:NoExecute", {"key": "a", "effect": "NoExecute"}),
        (
            "example.com/x=y=z:PreferNoSchedule",
            {"key": "example.com/x", "value": "y=z", "effect": "PreferNoSchedule"},
        ),
    ],
)
def test_parse_taint(text: str, taint: dict[str, str]) -> None:
    assert parse_taint(text) == taint


@pytest.mark.parametrize("text", ["a=b", "a=b:Sometimes", "=b:NoSchedule", ":NoSchedule"])
def test_parse_taint_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="taint"):
        parse_taint(text)


def test_go_arch() -> None:
    assert [go_arch(m) for m in ("x86_64", "aarch64", "riscv64")] == ["amd64", "arm64", "riscv64"]


def test_facts_from_agent_yaml_and_os_release(tmp_path: Path) -> None:
    (tmp_path / "etc/k3os").mkdir(parents=True)
    (tmp_path / "etc/k3os/agent.yaml").write_text(
        "node_labels: {zone: a}\nnode_taints: ['x=y:NoSchedule', 'broken']\n"
    )
    (tmp_path / "etc/os-release").write_text('NAME=k3os\nPRETTY_NAME="k3OS v9"\n')
    facts = gather_facts(tmp_path, "n1", "v9")
    assert facts.labels == {"zone": "a"}
    assert facts.taints == ({"key": "x", "value": "y", "effect": "NoSchedule"},)
    assert (facts.os_image, facts.version, facts.mode) == ("k3OS v9", "v9", "disk")
    assert facts.kernel and facts.architecture
    other = gather_facts(tmp_path, "n1", "v10")
    assert other.os_image == "k3OS v10"  # the booted version wins over a stale os-release


def test_facts_from_config_sources(tmp_path: Path) -> None:
    config = tmp_path / "var/lib/rancher/k3os/config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("k3os:\n  labels: {ring: canary}\n  taints: ['a:NoSchedule']\n")
    facts = gather_facts(tmp_path, "n2")
    assert facts.labels == {"ring": "canary"}
    assert facts.taints == ({"key": "a", "effect": "NoSchedule"},)
    assert facts.mode == "local"
    config.write_text("k3os: [not, a, map]\n")
    assert gather_facts(tmp_path, "n2").labels == {}


def test_facts_without_root_and_unreadable_agent_yaml(tmp_path: Path) -> None:
    assert gather_facts(None, "n3").labels == {}
    (tmp_path / "etc/k3os").mkdir(parents=True)
    (tmp_path / "etc/k3os/agent.yaml").write_text(": : :\n")
    assert gather_facts(tmp_path, "n3").labels == {}


def test_new_node_and_status() -> None:
    facts = NodeFacts(name="n", labels={"a": "1"}, taints=({"key": "t", "effect": "NoSchedule"},))
    node = new_node(facts)
    assert node["spec"]["taints"] == [{"key": "t", "effect": "NoSchedule"}]
    assert node["metadata"]["annotations"] == {CONFIG_LABELS: "a"}
    labels = node_labels(facts)
    assert labels["kubernetes.io/hostname"] == "n" and labels["a"] == "1"
    status = node_status(facts, NOW, ready=False, message="not yet")
    assert status["conditions"][0]["status"] == "False"
    assert status["conditions"][0]["message"] == "not yet"


def test_label_patch_adds_changes_and_removes_only_its_own() -> None:
    facts = NodeFacts(name="n", labels={"a": "2", "c": "3"})
    node = {
        "metadata": {
            "labels": {**node_labels(NodeFacts(name="n", labels={"a": "1", "b": "1"})), "x": "1"},
            "annotations": {CONFIG_LABELS: "a,b"},
        }
    }
    patch = label_patch(facts, node)
    assert patch == {
        "metadata": {
            "labels": {"a": "2", "c": "3", "b": None},
            "annotations": {CONFIG_LABELS: "a,c"},
        }
    }
    current = {"metadata": {"labels": node_labels(facts), "annotations": {CONFIG_LABELS: "a,c"}}}
    assert label_patch(facts, current) is None


def test_merge_ready_keeps_the_transition_time_while_the_status_holds() -> None:
    old = [
        {"type": "Ready", "status": "True", "lastTransitionTime": "then"},
        {"type": "DiskPressure", "status": "False"},
    ]
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "now"}
    merged = merge_ready(old, ready)
    assert merged[0]["lastTransitionTime"] == "then" and merged[1]["type"] == "DiskPressure"
    flipped = merge_ready(old, {**ready, "status": "False"})
    assert flipped[0]["lastTransitionTime"] == "now"
    assert merge_ready([], ready) == [ready]


def test_cluster_owned_config_labels_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "etc/k3os").mkdir(parents=True)
    (tmp_path / "etc/k3os/agent.yaml").write_text(
        "node_labels: {k3os.io/upgrade: enabled, node-role.kubernetes.io/edge: 'true', ok: '1'}\n"
    )
    facts = gather_facts(tmp_path, "n1")
    assert facts.labels == {"ok": "1"}
    assert facts.refused_labels == ("k3os.io/upgrade", "node-role.kubernetes.io/edge")
