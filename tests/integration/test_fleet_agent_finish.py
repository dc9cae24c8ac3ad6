"""A Plan that leaves nothing to decide after a success (no cordon, no drain, no delay, a
readiness gate) hands the finish to the agents: each real agent labels its node done,
records it complete and drops the request in the one write of its answer, admitted by the
real server's NodeRestriction, and the controller only frees the slots. A node's own
credentials still cannot label itself done, nor write itself a request, outside it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration._fleet import (
    KUBECTL,
    FleetEnv,
    plan_manifest,
    real_fleet,
    wait_condition,
)

pytestmark = pytest.mark.integration

NODES = ("f1", "f2")
DONE = "plan.upgrade.cattle.io/direct"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetEnv]:
    work = tmp_path_factory.mktemp("fleet-agent-finish")
    with real_fleet(work, {name: {} for name in NODES}) as env:
        env.kubectl("label", "node", *NODES, "k3os.io/upgrade=true")
        yield env


def _label_managers(node: Any, label: str) -> set[str]:
    """The field managers that own `label` on the node (its managedFields)."""
    owners = set()
    for entry in node["metadata"].get("managedFields") or []:
        labels = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:labels") or {}
        if f"f:{label}" in labels:
            owners.add(entry["manager"])
    return owners


def test_the_agents_finish_their_nodes_and_the_controller_frees_the_slots(env: FleetEnv) -> None:
    env.apply(
        plan_manifest(
            "direct",
            """
version: v1.1.0
concurrency: 1
nodeSelector: {matchLabels: {k3os.io/upgrade: "true"}}
postCompleteLabels: {example.com/release: $(LATEST_VERSION)}
upgrade: {image: k3os-$(LATEST_VERSION).bundle}
""",
        )
    )
    plan = wait_condition(env, "direct", "Complete", timeout=180)
    latest = plan["status"]["latestHash"]
    assert not plan["status"].get("applying")
    for name, node in env.nodes().items():
        labels, notes = node["metadata"]["labels"], node["metadata"].get("annotations") or {}
        assert labels[DONE] == latest, name
        assert labels["example.com/release"] == "v1.1.0", name
        assert labels["k3os.io/version"] == "v1.1.0", name
        assert "request.upgrade.k3os.io/direct" not in notes, name
        assert "finish.upgrade.k3os.io/direct" not in notes, name
        record = json.loads(notes["status.upgrade.k3os.io/direct"])
        assert (record["phase"], record["hash"]) == ("Complete", latest), name
        assert "since" not in record  # healthy at once: the controller needed no time
        # written by the agent in its answer, not by a take of the controller's
        shown = env.kubectl("get", "node", name, "-o", "json", "--show-managed-fields")
        assert _label_managers(json.loads(shown), DONE) == {"k3os-agent"}, name
    events = env.events("k3os-system")
    done = [e["message"] for e in events if e["reason"] == "NodesDone"]
    assert sorted(n for m in done for n in m.partition(": ")[2].split(", ")) == sorted(NODES)
    metrics = env.metrics()
    assert 'k3os_plan_upgrade_seconds_count{namespace="k3os-system",plan="direct"} 2' in metrics


def _as_node(env: FleetEnv, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    creds = env.fleet.nodes[name].data / "agent"
    return subprocess.run(
        [
            KUBECTL,
            f"--server={env.server.url}",
            f"--certificate-authority={creds / 'ca.crt'}",
            f"--client-certificate={creds / 'client.crt'}",
            f"--client-key={creds / 'client.key'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_node_cannot_label_itself_done_or_write_itself_a_request(env: FleetEnv) -> None:
    request = json.dumps({"hash": "x", "version": "v9", "image": "i", "plan": "k3os-system/x"})
    finish = json.dumps({"hash": "x", "labels": {"k3os.io/upgrade": "forged"}})
    attempts = [
        ("label", "node", "f1", f"{DONE}=forged", "--overwrite"),
        ("annotate", "node", "f1", f"request.upgrade.k3os.io/x={request}"),
        ("annotate", "node", "f1", f"finish.upgrade.k3os.io/x={finish}"),
    ]
    for attempt in attempts:
        done = _as_node(env, "f1", *attempt)
        assert done.returncode != 0 and "Forbidden" in done.stderr, (attempt, done.stderr)
    # its own annotations it may still write
    assert _as_node(env, "f1", "annotate", "node", "f1", "example.com/note=1").returncode == 0
    node = env.nodes()["f1"]
    assert node["metadata"]["labels"][DONE] != "forged"
    assert "request.upgrade.k3os.io/x" not in node["metadata"]["annotations"]
    assert "finish.upgrade.k3os.io/x" not in node["metadata"]["annotations"]
