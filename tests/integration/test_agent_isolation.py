"""The agent's import diet, and the child interpreters that keep it: what `k3os agent` loads
(never cryptography, lightkube, pydantic or the config engine), `run_in_child`'s answers,
failures and logs, the join in a child against a real server (each error class comes
back), and the config engine run in children on a real root."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from k3os.agent.configwork import ConfigWork
from k3os.agent.isolate import ChildFailed, run_in_child
from k3os.agent.joinproc import (
    CAMismatch,
    JoinFailed,
    JoinRefused,
    ServerUnreachable,
    join_in_child,
)
from tests.integration._apiserver import RunningServer, running_server

pytestmark = pytest.mark.integration

HEAVY = ("cryptography", "lightkube", "pydantic", "pydantic_core", "bcrypt", "k3os.config",
         "k3os.host", "k3os.security.pki")  # fmt: skip

# Everything `k3os agent` imports to start and to run at rest (the command, the agent's
# modules, the client), as the CLI loads it.
AGENT_IMPORTS = """
import json, sys
from k3os.cli import cli
cli.get_command(None, "agent")
import k3os.agent, k3os.agent.runner, k3os.agent.credentials, k3os.agent.configwork
import k3os.agent.upgrades, k3os.agent.fetch, k3os.agent.boot, k3os.agent.node
from k3os.agent.facts import gather_facts
from k3os.agent.upgrades import open_requests
open_requests({"metadata": {"annotations": {"k3os.io/other": "x"}}})
print(json.dumps(sorted(sys.modules)))
"""


def test_the_agent_at_rest_imports_no_crypto_models_or_config_engine() -> None:
    done = subprocess.run(
        [sys.executable, "-c", AGENT_IMPORTS], capture_output=True, text=True, check=True
    )
    modules = json.loads(done.stdout)
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []
    assert "httpx2" in modules and "k3os.client" in modules  # the client is still there


async def test_run_in_child_answers_fails_and_replays_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    assert await run_in_child("os.path:join", ["a", "b"]) == "a/b"
    with pytest.raises(ChildFailed, match="ValueError") as info:
        await run_in_child("k3os.apis.durationtext:parse_duration", ["soon"])
    assert info.value.kind == "ValueError" and "30s" in info.value.message
    with pytest.raises(ChildFailed, match="exit") as info:
        await run_in_child("os:_exit", [3])
    assert "status 3" in info.value.message
    with pytest.raises(ChildFailed, match="TimeoutError"):
        await run_in_child("time:sleep", [30], limit=1.0)
    assert await run_in_child("builtins:print", ["chatter on stdout"]) is None
    await run_in_child("logging:warning", ["from the child %s", "process"])
    assert ("root", logging.WARNING, "from the child process") in caplog.record_tuples


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("isolation") / "data"
    with running_server(data, ["--disable-controller-manager"]) as running:
        yield running


async def test_join_in_a_child_and_its_errors(server: RunningServer, tmp_path: Path) -> None:
    token = (server.data_dir / "server" / "node-token").read_text().strip()
    await join_in_child(server.url, token, tmp_path / "ok", "isolated-1")
    agent_dir = tmp_path / "ok" / "agent"
    assert all((agent_dir / f).is_file() for f in ("client.crt", "client.key", "ca.crt"))
    await join_in_child(server.url, token, tmp_path / "ok", "isolated-1")  # reused
    pin, _, secret = token.partition("::")
    with pytest.raises(JoinRefused) as refused:
        await join_in_child(server.url, f"{pin}::node:wrong", tmp_path / "bad", "isolated-2")
    assert refused.value.status == 401
    with pytest.raises(CAMismatch):
        await join_in_child(server.url, "K10" + "0" * 64 + "::" + secret, tmp_path / "x", "n")
    with pytest.raises(ServerUnreachable):
        await join_in_child("https://127.0.0.1:1", token, tmp_path / "y", "n")
    with pytest.raises(JoinFailed, match="token"):
        await join_in_child(server.url, "not a token", tmp_path / "z", "n")


async def test_the_config_engine_in_children(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "k3os/system").mkdir(parents=True)
    (root / "k3os/system/config.yaml").write_text(
        "hostname: edge\nk3os:\n  labels: {ring: one}\n  taints: ['a=b:NoSchedule']\n"
    )
    work = ConfigWork(isolated=True)
    assert await work.node_settings(root) == ({"ring": "one"}, ["a=b:NoSchedule"], None)
    local = await work.local_config(root)
    assert local is not None and local["hostname"] == "edge"
    error, summary = await work.apply_config({"hostname": "edge-x"}, root)
    assert error is None and "written" in summary
    assert (root / "etc/hostname").read_text().strip() == "edge-x"
    error, _ = await work.apply_config({"k3os": {"sysctl": "not a map"}}, root)
    assert error is not None and "sysctl" in error
    (root / "k3os/system/config.yaml").write_text("hostname: [\n")
    assert await work.local_config(root) is None
    work.start_node_settings(root)
    assert await work.node_settings(root) == ({}, [], None)
