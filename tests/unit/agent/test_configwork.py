"""ConfigWork in this process (what tests and tools use), what the agent does when a config
child fails, and the node settings read early at start-up. The children themselves are
run for real in tests/integration/test_agent_isolation.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from k3os.agent import configwork
from k3os.agent.configwork import ConfigWork
from k3os.agent.isolate import ChildFailed


def root_with(tmp_path: Path, config: str, agent_yaml: str | None = None) -> Path:
    root = tmp_path / "root"
    (root / "var/lib/rancher/k3os").mkdir(parents=True)
    (root / "var/lib/rancher/k3os/config.yaml").write_text(config)
    if agent_yaml is not None:
        (root / "etc/k3os").mkdir(parents=True)
        (root / "etc/k3os/agent.yaml").write_text(agent_yaml)
    return root


async def test_in_process(tmp_path: Path) -> None:
    root = root_with(tmp_path, "hostname: edge\nk3os: {labels: {a: b}, mode: disk}\n")
    work = ConfigWork()
    assert await work.node_settings(root) == ({"a": "b"}, [], "disk")
    assert (await work.local_config(root) or {})["hostname"] == "edge"
    error, _ = await work.apply_config({"hostname": "x"}, root)
    assert error is None and (root / "etc/hostname").read_text().strip() == "x"


async def test_agent_yaml_is_read_here_even_when_isolated(tmp_path: Path) -> None:
    root = root_with(tmp_path, "{}\n", "node_labels: {site: b}\nnode_taints: ['k:NoSchedule']\n")
    assert await ConfigWork(isolated=True).node_settings(root) == (
        {"site": "b"},
        ["k:NoSchedule"],
        None,
    )


async def test_a_failed_child_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(target: str, args: list[Any], *, limit: float = 0) -> Any:
        raise ChildFailed(target, "exit", "status -9: killed")

    monkeypatch.setattr(configwork, "run_in_child", fail)
    work = ConfigWork(isolated=True)
    root = root_with(tmp_path, "{}\n")
    assert await work.local_config(root) is None
    assert await work.node_settings(root) == ({}, [], None)
    error, summary = await work.apply_config({}, root)
    assert error is not None and error.startswith("internal error:") and summary == ""


async def test_early_node_settings_are_taken_once_or_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    release = asyncio.Event()

    async def child(target: str, args: list[Any], *, limit: float = 0) -> Any:
        calls.append(target)
        await release.wait()
        return [{"early": "yes"}, [], "disk"]

    monkeypatch.setattr(configwork, "run_in_child", child)
    root = root_with(tmp_path, "{}\n")
    work = ConfigWork(isolated=True)
    work.start_node_settings(root)
    await asyncio.sleep(0)
    release.set()
    assert await work.node_settings(root) == ({"early": "yes"}, [], "disk")
    assert await work.node_settings(root) == ({"early": "yes"}, [], "disk")
    assert len(calls) == 2  # the early answer is used once; later reads are fresh
    release.clear()
    work.start_node_settings(root)
    await asyncio.sleep(0)
    work.close()  # not taken (the join failed): cancelled
    work.close()
    release.set()
    done = ConfigWork(isolated=True)
    done.start_node_settings(root)
    await asyncio.sleep(0.01)
    done.close()  # finished but not taken: its answer is dropped quietly
