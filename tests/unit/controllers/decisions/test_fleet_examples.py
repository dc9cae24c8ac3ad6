"""docs/fleet.md and examples/: every manifest parses, and the k3OS plan works unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from k3os.apis import NodeConfig, Plan, load_objects
from k3os.controllers.decisions import (
    NodeState,
    NodeView,
    Taint,
    effective_image,
    plan_hash,
    render_node_config,
    resolved_version,
    select_next_nodes,
)
from tests.unit.controllers.decisions._build import NOW

REPO = Path(__file__).resolve().parents[4]
DOC = REPO / "docs" / "fleet.md"
EXAMPLES = sorted((REPO / "examples").glob("plans/*.yaml")) + sorted(
    (REPO / "examples").glob("nodeconfigs/*.yaml")
)


def _doc_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_its_examples() -> None:
    kinds = [obj.kind for block in _doc_blocks() for obj in load_objects(block, file=str(DOC))]
    assert kinds == ["NodeConfig", "Plan", "Plan"]
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_parses_as_its_kind(path: Path) -> None:
    objects = load_objects(path.read_text(), file=str(path))
    assert objects
    assert all(isinstance(o, Plan | NodeConfig) for o in objects)


def _k3os_plans() -> list[Plan]:
    from_doc = [
        o for b in _doc_blocks() for o in load_objects(b) if o.metadata.name == "k3os-latest"
    ]
    from_file = load_objects((REPO / "examples/plans/k3os-latest.yaml").read_text())
    return [*from_doc, *from_file]


@pytest.mark.parametrize("plan", _k3os_plans(), ids=["docs", "examples"])
def test_the_k3os_plan_rolls_out_unchanged(plan: Plan) -> None:
    version = resolved_version(plan, "https://github.com/rancher/k3os/releases/tag/v0.22.2-k3s2r0")
    assert version == "v0.22.2-k3s2r0"
    assert effective_image(plan.spec.upgrade.image, version) == "rancher/k3os:v0.22.2-k3s2r0"
    latest = plan_hash(plan, version, {})
    local = {"k3os.io/mode": "local"}
    fleet = [
        NodeView("edge-1", labels={**local, "k3os.io/upgrade": "latest"}),
        NodeView("edge-2", labels={**local, "k3os.io/upgrade": "enabled"}),
        NodeView(
            "server-1",
            labels={**local, "k3os.io/upgrade": "latest"},
            taints=(Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"),),
        ),
        NodeView("live-usb", labels={"k3os.io/mode": "live", "k3os.io/upgrade": "latest"}),
        NodeView("held", labels={**local, "k3os.io/upgrade": "disabled"}),
        NodeView("opted-out", labels={**local, "k3os.io/upgrade": "false"}),
        NodeView("plain", labels=local),
        NodeView(
            "done",
            labels={
                **local,
                "k3os.io/upgrade": "latest",
                "plan.upgrade.cattle.io/k3os-latest": latest,
            },
        ),
    ]
    decision = select_next_nodes(plan, fleet, NOW, latest_hash=latest)
    pending = {n for n, s in decision.states.items() if s is NodeState.PENDING}
    assert pending == {"edge-1", "edge-2", "server-1"}
    assert decision.states["done"] is NodeState.DONE
    assert len(decision.start) == 1
    assert decision.start[0] in pending
    assert plan.spec.drain is not None
    assert plan.spec.cordons


def test_the_fleet_nodeconfigs_render() -> None:
    configs = load_objects((REPO / "examples/nodeconfigs/fleet.yaml").read_text())
    local = {"hostname": "edge-1", "ssh_authorized_keys": ["ssh-ed25519 AAAAlocal edge"]}
    berlin = render_node_config({"topology.kubernetes.io/zone": "berlin"}, local, configs)
    assert berlin.config["k3os"]["ntp_servers"] == ["ntp.berlin.example.com"]
    assert len(berlin.config["ssh_authorized_keys"]) == 2
    paris = render_node_config({"topology.kubernetes.io/zone": "paris"}, local, configs)
    assert paris.config["k3os"]["ntp_servers"] == ["pool.ntp.org"]
    assert "dns_nameservers" not in paris.config["k3os"]
