"""The node agent against a real `k3os server` over TLS: registration, Lease, Ready, a
server killed with SIGKILL and restarted, rendered config applied and reported."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.integration._agent import (
    eventually,
    get_json,
    install_crds,
    kubectl,
    running_agent,
    server_on_port,
)
from tests.integration._apiserver import free_port

pytestmark = pytest.mark.integration


def _ready(node: dict) -> bool:
    conds = {c["type"]: c for c in node.get("status", {}).get("conditions", [])}
    return conds.get("Ready", {}).get("status") == "True"


def test_agent_registers_renews_and_survives_a_killed_server(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "server"
    root = tmp_path / "edge-1-root"
    (root / "etc/k3os").mkdir(parents=True)
    (root / "etc/k3os/agent.yaml").write_text(
        "role: agent\nnode_labels: {site: berlin}\nnode_taints: ['dedicated=edge:NoSchedule']\n"
    )
    (root / "etc/os-release").write_text('PRETTY_NAME="k3OS test"\n')
    with server_on_port(data, port) as server:
        install_crds(server)
        agent_cm = running_agent(server, tmp_path, "edge-1")
        agent = agent_cm.__enter__()
        try:
            node = eventually(
                lambda: (n := get_json(server, "node", "edge-1")) and _ready(n) and n,
                "node edge-1 Ready",
                log=agent.log,
            )
            labels = node["metadata"]["labels"]
            assert labels["site"] == "berlin"
            assert labels["k3os.io/version"]
            assert labels["k3os.io/mode"] == "local"
            assert node["spec"]["taints"] == [
                {"key": "dedicated", "value": "edge", "effect": "NoSchedule"}
            ]
            info = node["status"]["nodeInfo"]
            assert info["osImage"] == "k3OS test"
            assert info["kernelVersion"] and info["architecture"]
            assert info["operatingSystem"] == "linux"
            assert "k3os" in info["kubeletVersion"]

            def renewed(before: str) -> str | None:
                lease = get_json(server, "lease", "-n", "kube-node-lease", "edge-1")
                now = str(lease["spec"]["renewTime"])
                return now if now != before else None

            first = eventually(lambda: renewed(""), "a Lease", log=agent.log)
            eventually(lambda: renewed(first), "a renewed Lease", log=agent.log)

            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
        except BaseException:
            agent_cm.__exit__(None, None, None)
            raise
    try:
        with server_on_port(data, port) as server:
            lease = get_json(server, "lease", "-n", "kube-node-lease", "edge-1")
            before = str(lease["spec"]["renewTime"])
            eventually(lambda: renewed(before), "a Lease renewed after the restart", log=agent.log)
            nodes = get_json(server, "nodes")["items"]
            assert [n["metadata"]["name"] for n in nodes] == ["edge-1"]
            assert agent.proc.poll() is None
            # The agent's watches resumed: a config rendered after the restart is applied.
            rendered = {
                "apiVersion": "k3os.io/v1",
                "kind": "RenderedNodeConfig",
                "metadata": {"name": "edge-1"},
                "spec": {"nodeName": "edge-1", "config": {"hostname": "one"}, "hash": "after"},
            }
            kubectl(server, "apply", "-f", "-", stdin=json.dumps(rendered))
            eventually(
                lambda: (
                    get_json(server, "renderednodeconfig", "edge-1")
                    .get("status", {})
                    .get("observedHash")
                    == "after"
                ),
                "the config rendered after the restart applied",
                log=agent.log,
            )
            assert (root / "etc/hostname").read_text().strip() == "one"
    finally:
        agent_cm.__exit__(None, None, None)


def test_rendered_config_is_applied_and_reported(tmp_path: Path) -> None:
    with server_on_port(tmp_path / "server", free_port()) as server:
        install_crds(server)
        with running_agent(server, tmp_path, "edge-2") as agent:
            eventually(lambda: get_json(server, "node", "edge-2"), "node edge-2", log=agent.log)
            config = {"hostname": "edge-two", "k3os": {"labels": {"ring": "canary"}}}
            rendered = {
                "apiVersion": "k3os.io/v1",
                "kind": "RenderedNodeConfig",
                "metadata": {"name": "edge-2"},
                "spec": {"nodeName": "edge-2", "config": config, "hash": "h1", "sources": []},
            }
            kubectl(server, "apply", "-f", "-", stdin=json.dumps(rendered))

            def reported(hash_: str) -> dict | None:
                obj = get_json(server, "renderednodeconfig", "edge-2")
                status = obj.get("status") or {}
                return status if status.get("observedHash") == hash_ else None

            status = eventually(lambda: reported("h1"), "status for h1", log=agent.log)
            conds = {c["type"]: c for c in status["conditions"]}
            assert conds["Applied"]["status"] == "True"
            assert conds["Degraded"]["status"] == "False"
            assert "localConfig" in status
            root = tmp_path / "edge-2-root"
            assert (root / "etc/hostname").read_text().strip() == "edge-two"
            node = eventually(
                lambda: (
                    (n := get_json(server, "node", "edge-2"))
                    and n["metadata"]["labels"].get("ring") == "canary"
                    and n
                ),
                "the config's label on the node",
                log=agent.log,
            )
            assert node["metadata"]["labels"]["ring"] == "canary"

            bad = {**rendered, "spec": {**rendered["spec"], "hash": "h2"}}
            bad["spec"]["config"] = {"k3os": {"sysctl": "not a map"}}
            kubectl(server, "apply", "-f", "-", stdin=json.dumps(bad))
            status = eventually(lambda: reported("h2"), "status for h2", log=agent.log)
            conds = {c["type"]: c for c in status["conditions"]}
            assert conds["Degraded"]["status"] == "True"
            assert "sysctl" in conds["Degraded"]["message"]
            assert conds["Applied"]["status"] == "False"
            events = get_json(server, "events", "-A")["items"]
            reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == "edge-2"}
            assert {"ConfigApplied", "ConfigFailed"} <= reasons
            # The engine ran in child processes: the agent itself never loaded pydantic (nor,
            # for its join, cryptography).
            maps = Path(f"/proc/{agent.proc.pid}/maps").read_text()
            assert "pydantic_core" not in maps and "cryptography" not in maps


def test_server_runs_an_agent_unless_disabled(tmp_path: Path) -> None:
    from tests.integration._apiserver import running_server

    with running_server(tmp_path / "server", controllers=True) as server:
        nodes = eventually(
            lambda: [n for n in get_json(server, "nodes")["items"] if _ready(n)],
            "the server's own node Ready",
            log=server.log,
        )
        assert len(nodes) == 1
        name = nodes[0]["metadata"]["name"]
        assert nodes[0]["metadata"]["labels"]["k3os.io/mode"] == "local"
        # The server marks its own node as k3s does (the node itself may not).
        eventually(
            lambda: "control-plane,master" in kubectl(server, "get", "node", name),
            "the server's node shown with its roles",
            log=server.log,
        )
        eventually(
            lambda: get_json(server, "lease", "-n", "kube-node-lease", name), "the server's Lease"
        )
    with server_on_port(tmp_path / "quiet", free_port()) as server:  # --disable-agent
        assert get_json(server, "nodes")["items"] == []


NOT_MANAGED = "manages no system"
FLEET = """
apiVersion: k3os.io/v1
kind: NodeConfig
metadata: {name: everywhere}
spec:
  config: {k3os: {ntp_servers: [0.pool.ntp.org]}}
---
apiVersion: upgrade.cattle.io/v1
kind: Plan
metadata: {name: k3os-v2, namespace: k3os-system}
spec:
  concurrency: 1
  version: v2.0.0
  nodeSelector: {matchLabels: {kubernetes.io/os: linux}}
  upgrade: {image: k3os-v2.0.0}
"""


def test_the_servers_own_agent_says_it_has_no_system_to_configure_or_upgrade(
    tmp_path: Path,
) -> None:
    """`k3os server` on a machine that is not a k3os system: its node's agent answers a
    NodeConfig and a Plan that select it with why it cannot, instead of leaving them to
    wait for it; the Plan goes in `k3os-system`, which the controllers made."""
    from tests.integration._apiserver import running_server

    with running_server(tmp_path / "server", controllers=True) as server:
        eventually(lambda: get_json(server, "namespace", "k3os-system"), "the fleet namespace")
        eventually(lambda: get_json(server, "crd", "plans.upgrade.cattle.io"), "the fleet CRDs")
        node = eventually(lambda: get_json(server, "nodes")["items"], "the server's node")[0]
        name = node["metadata"]["name"]
        kubectl(server, "apply", "-f", "-", stdin=FLEET)

        def config_failed() -> dict | None:
            status = get_json(server, "nodeconfig", "everywhere").get("status") or {}
            return status if status.get("failed") == 1 else None

        status = eventually(config_failed, "the NodeConfig counting its failure", log=server.log)
        degraded = {c["type"]: c for c in status["conditions"]}["Degraded"]
        assert degraded["status"] == "True" and NOT_MANAGED in degraded["message"]
        rendered = get_json(server, "renderednodeconfig", name)["status"]
        applied = {c["type"]: c for c in rendered["conditions"]}["Applied"]
        assert applied["reason"] == "NotManaged" and applied["status"] == "False"
        spec = get_json(server, "renderednodeconfig", name)["spec"]
        assert rendered["observedHash"] == spec["hash"]

        def plan_halted() -> dict | None:
            plan = get_json(server, "plan", "-n", "k3os-system", "k3os-v2")
            conditions = {c["type"]: c for c in (plan.get("status") or {}).get("conditions", [])}
            halted = conditions.get("Halted", {}).get("status") == "True"
            return plan["status"] if halted else None

        plan_status = eventually(plan_halted, "the Plan halted on the node", log=server.log)
        assert plan_status["failed"] == [name] and plan_status["applying"] == []
        events = get_json(server, "events", "-A")["items"]
        refused = [e["message"] for e in events if e["reason"] == "UpgradeFailed"]
        # the agent's (the controller records one of its own on the node too)
        assert any("NotManaged" in m and NOT_MANAGED in m for m in refused), refused
