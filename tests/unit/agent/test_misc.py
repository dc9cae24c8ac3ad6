from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from k3os.agent import AgentSettings, default_node_name
from k3os.agent.credentials import JoinUnavailable, connect_agent, have_certificate, join
from k3os.agent.events import EventRecorder, event_object
from k3os.agent.settings import read_json, write_json
from k3os.cli import cli
from k3os.client import Backoff
from k3os.client.resources import EVENTS
from tests.unit.agent.fakes import FakeKube

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def settings(tmp_path: Path, **kw: Any) -> AgentSettings:
    return AgentSettings(
        server="https://127.0.0.1:1", node_name="n1", data_dir=tmp_path, root=None, **kw
    )


def test_settings_paths_and_checks(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert s.cert_path == tmp_path / "agent/client.crt" and s.ca_path.name == "ca.crt"
    assert s.key_path.name == "client.key"
    with pytest.raises(ValueError, match="positive"):
        settings(tmp_path, renew_interval=0)
    with pytest.raises(ValueError, match="lease duration"):
        settings(tmp_path, lease_duration=0)


def test_node_name_and_json_files(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("Edge-7\n")
    assert default_node_name(tmp_path) == "edge-7"
    assert default_node_name(tmp_path / "nowhere") and default_node_name(None)
    path = tmp_path / "d" / "x.json"
    assert read_json(path) is None
    write_json(path, {"a": 1})
    assert read_json(path) == {"a": 1}
    path.write_text("[1]")
    assert read_json(path) is None


async def test_events_are_best_effort() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u"}}
    obj = event_object(node, "Started", "hello", "Normal", "n1", NOW)
    assert obj["involvedObject"] == {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u"}
    assert obj["metadata"]["namespace"] == "default" and obj["source"]["component"] == "k3os-agent"
    pod = {"kind": "Pod", "metadata": {"name": "p", "namespace": "apps"}}
    assert event_object(pod, "R", "m", "Warning", "h", NOW)["involvedObject"]["namespace"] == "apps"
    kube = FakeKube()
    recorder = EventRecorder(kube, "n1")  # type: ignore[arg-type]
    await recorder.record(node, "Started", "hello")
    assert [k for k in kube.objects if k[0] == EVENTS.plural]
    kube.fail_next = 1
    await recorder.record(node, "Lost", "nobody hears this")  # no error


async def in_process(server: str, token: str, data_dir: Path, node_name: str) -> None:
    """The join in this process (the agent runs it in a child; that is tested for real in
    tests/integration/test_agent.py)."""
    from k3os.agent.join import ensure_node_credentials

    await asyncio.to_thread(ensure_node_credentials, server, token, data_dir, node_name)


async def test_credentials(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert not have_certificate(s)
    with pytest.raises(JoinUnavailable, match="pass --token"):
        await connect_agent(s)
    with pytest.raises(JoinUnavailable, match="join failed"):
        await join(settings(tmp_path, token="K10nothex::node:secret"), obtain=in_process)
    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)
        if len(sleeps) == 2:
            raise RuntimeError("gave up waiting")

    s = settings(tmp_path, token="K10" + "0" * 64 + "::node:secret")
    with pytest.raises(RuntimeError, match="gave up"):
        await join(s, backoff=Backoff(initial=0.1, maximum=1.0), sleep=sleep, obtain=in_process)
    assert sleeps == [0.1, 0.2]  # the server is unreachable: wait, never give up by itself
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    kube = await connect_agent(settings(tmp_path, kubeconfig=kubeconfig))
    assert kube.server.startswith("https://127.0.0.1")
    await kube.aclose()


def test_agent_command_line() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["agent", "--help"])
    assert result.exit_code == 0 and "--node-name" in result.output
    result = runner.invoke(cli, ["agent", "--server", "https://x", "--lease-renew-interval", "0s"])
    assert result.exit_code == 2 and "must be positive" in result.output
    result = runner.invoke(cli, ["agent", "--server", "https://x", "--health-timeout", "soon"])
    assert result.exit_code == 2


def test_agent_command_says_why_it_cannot_connect(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    result = CliRunner().invoke(
        cli,
        ["agent", "--server", "https://127.0.0.1:1", "--data-dir", str(tmp_path / "d"),
         "--root", str(root)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no node certificate; pass --token" in result.output


def test_in_process_agent_certificate_is_made_once(tmp_path: Path) -> None:
    from k3os.cli.agent import _server_node_certificate
    from k3os.security.bootstrap import ensure_server_pki
    from k3os.security.pki import identity_of, load_pair

    pki = ensure_server_pki(tmp_path, bind_address="127.0.0.1", tls_sans=(), token=None)
    s = settings(tmp_path)
    _server_node_certificate(pki, s)
    cert = load_pair(s.cert_path, s.key_path).cert
    assert identity_of(cert) == ("system:node:n1", ["system:nodes"])
    assert s.ca_path.read_bytes() == pki.ca.cert_pem
    before = s.cert_path.read_bytes()
    _server_node_certificate(pki, s)
    assert s.cert_path.read_bytes() == before  # still good: reused
