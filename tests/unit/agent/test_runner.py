from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from k3os.agent import REBOOT_EXIT_CODE, AgentSettings
from k3os.agent.boot import UpgradeJob
from k3os.agent.configsync import RENDERED
from k3os.agent.runner import Agent
from k3os.apis.handoff import UpgradeRequest, outcome_key, request_key
from k3os.client.resources import LEASES, NODES
from k3os.image import upgrade
from tests.tooling.image_fixtures import bundle, keypair, new_state
from tests.unit.agent.fakes import ListWatchKube


def settings(tmp_path: Path, root: Path | None) -> AgentSettings:
    return AgentSettings(
        server="https://127.0.0.1:1",
        node_name="n1",
        data_dir=tmp_path / "data",
        root=root,
        renew_interval=0.02,
        status_interval=0.02,
        health_timeout=0.2,
        health_interval=0.01,
    )


async def run_until(agent: Agent, done: Any) -> int:
    task = asyncio.create_task(agent.run())
    for _ in range(500):
        if task.done() or done():
            break
        await asyncio.sleep(0.01)
    agent.stop.set()
    return await asyncio.wait_for(task, 10)


async def test_agent_registers_and_heartbeats_without_a_root(tmp_path: Path) -> None:
    kube = ListWatchKube()
    agent = Agent(settings(tmp_path, None), kube)  # type: ignore[arg-type]
    assert agent.config.root is None and agent.upgrader is None and agent.unmanaged is not None
    code = await run_until(agent, lambda: agent.keeper.renewals >= 2)
    assert code == 0
    assert kube.peek(NODES, "n1")["metadata"]["labels"]["k3os.io/mode"] == "local"
    assert kube.peek(LEASES, "n1", "kube-node-lease")["spec"]["holderIdentity"] == "n1"


async def test_an_agent_with_no_system_says_so_to_nodeconfigs_and_plans(tmp_path: Path) -> None:
    """No root: a rendered config is reported not applied and an upgrade request answered
    Failed at once, each with why, instead of being left for the fleet to wait on."""
    kube = ListWatchKube()
    request = UpgradeRequest(plan="sys/p", hash="h2", version="v2", image="v2")
    kube.put(
        NODES, {"metadata": {"name": "n1", "annotations": {request_key("p"): request.encode()}}}
    )
    kube.put(RENDERED, {"metadata": {"name": "n1"}, "spec": {"hash": "c1", "config": {}}})
    agent = Agent(settings(tmp_path, None), kube)  # type: ignore[arg-type]
    code = await run_until(agent, lambda: outcome(kube))
    assert code == 0
    answer = outcome(kube)
    assert answer is not None and answer["phase"] == "Failed" and answer["hash"] == "h2"
    assert answer["reason"] == "NotManaged" and "no --root" in answer["message"]
    # (The fake's watches deliver nothing, so the rendered config is handed over here.)
    await agent.config.sync(kube.peek(RENDERED, "n1"))
    status = kube.peek(RENDERED, "n1")["status"]
    applied = {c["type"]: c for c in status["conditions"]}["Applied"]
    assert status["observedHash"] == "c1" and applied["status"] == "False"
    assert applied["reason"] == "NotManaged" and "not a booted k3os system" in applied["message"]
    assert not (tmp_path / "data" / "agent" / "applied-config.json").exists()
    # Reported once: a second look at the same hash writes nothing.
    writes = [c for c in kube.calls if c[0] == "patch/status" and c[1] == RENDERED.plural]
    await agent.config.sync(kube.peek(RENDERED, "n1"))
    assert [c for c in kube.calls if c[0] == "patch/status" and c[1] == RENDERED.plural] == writes


async def test_a_root_without_a_system_refuses_upgrades_but_applies_configs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    agent = Agent(settings(tmp_path, root), ListWatchKube())  # type: ignore[arg-type]
    assert agent.config.root == root and agent.upgrader is None
    assert (
        agent.unmanaged is not None and "no k3os system is installed under" in agent.unmanaged.why
    )


def staged_root(tmp_path: Path) -> tuple[Path, Path]:
    keys = keypair(tmp_path / "keys")
    v1 = bundle(tmp_path / "b", keys, "v1", seed=1)
    v2 = bundle(tmp_path / "b", keys, "v2", seed=2)
    root = tmp_path / "root"
    state = new_state(root, v1, keys)
    state.boot("current")
    upgrade(state, str(v2))
    job_file = tmp_path / "data" / "agent" / "upgrade.json"
    UpgradeJob(
        plan="p", namespace="ns", hash="h2", image="v2", version="v2", previous="v1", stage="staged"
    ).save(job_file)
    return root, job_file


def outcome(kube: ListWatchKube) -> dict[str, Any] | None:
    try:
        raw = kube.peek(NODES, "n1")["metadata"].get("annotations", {}).get(outcome_key("p"))
    except KeyError:
        return None
    return json.loads(raw) if raw else None


async def test_a_healthy_trial_is_committed_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, job_file = staged_root(tmp_path)
    monkeypatch.setattr("k3os.agent.boot.image_health", lambda state, version: None)
    kube = ListWatchKube()
    agent = Agent(settings(tmp_path, root), kube)  # type: ignore[arg-type]
    code = await run_until(agent, lambda: outcome(kube) is not None)
    assert code == 0 and agent.booted == "v2"
    result = outcome(kube)
    assert result is not None
    assert (result["phase"], result["version"], result["message"]) == (
        "Complete",
        "v2",
        "booted v2",
    )
    assert kube.peek(NODES, "n1")["metadata"]["labels"]["k3os.io/version"] == "v2"
    assert not job_file.exists()


async def test_a_failed_trial_reboots_then_falls_back_and_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = staged_root(tmp_path)
    monkeypatch.setattr("k3os.agent.boot.image_health", lambda state, version: "k3s is down")
    kube = ListWatchKube()
    first = Agent(settings(tmp_path, root), kube)  # type: ignore[arg-type]
    assert await run_until(first, lambda: False) == REBOOT_EXIT_CODE
    assert outcome(kube) is None
    second = Agent(settings(tmp_path, root), kube)  # type: ignore[arg-type]
    assert await run_until(second, lambda: outcome(kube) is not None) == 0
    assert second.booted == "v1"
    result = outcome(kube)
    assert result is not None
    assert (result["phase"], result["reason"], result["version"]) == (
        "Failed",
        "HealthCheckFailed",
        "v1",
    )
    assert "k3s is down" in result["message"]
