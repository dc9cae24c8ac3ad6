from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from k3os.agent import REBOOT_EXIT_CODE, AgentSettings
from k3os.agent.boot import UpgradeJob
from k3os.agent.runner import Agent
from k3os.apis.handoff import outcome_key
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
    assert agent.config is None and agent.upgrader is None
    code = await run_until(agent, lambda: agent.keeper.renewals >= 2)
    assert code == 0
    assert kube.peek(NODES, "n1")["metadata"]["labels"]["k3os.io/mode"] == "local"
    assert kube.peek(LEASES, "n1", "kube-node-lease")["spec"]["holderIdentity"] == "n1"


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
