"""Fetching a bundle from the server's image store over the agent's connection, and how a
join child's failures map onto the join's errors (the child itself runs for real in
tests/integration/test_agent_isolation.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from k3os.agent import joinproc
from k3os.agent.fetch import fetch_from_server, server_path
from k3os.agent.isolate import ChildFailed
from k3os.agent.joinproc import JoinFailed, ServerUnreachable, join_in_child
from k3os.client import ClientError, Kube
from k3os.client.kubeconfig import ClientConfig, Cluster, User


def kube(handler: Any) -> Kube:
    config = ClientConfig(Cluster("https://h:1"), User(token="t"))
    return Kube(config, transport=httpx2.MockTransport(handler))


async def test_fetch_from_server(tmp_path: Path) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == server_path("bundle.tar"):
            return httpx2.Response(200, content=b"bundle bytes")
        if request.url.path == server_path("broken"):
            raise httpx2.ConnectError("connection reset")
        return httpx2.Response(404, content=b"no such image")

    async with kube(handler) as k:
        dest = await fetch_from_server(k, "bundle.tar", tmp_path / "d" / "b.tar")
        assert dest.read_bytes() == b"bundle bytes"
        assert not (tmp_path / "d" / "b.tar.partial").exists()
        with pytest.raises(ClientError, match="HTTP 404 no such image"):
            await fetch_from_server(k, "missing", tmp_path / "m")
        with pytest.raises(ClientError, match="connection reset"):
            await fetch_from_server(k, "broken", tmp_path / "x")


@pytest.mark.parametrize(
    ("kind", "error"), [("TimeoutError", ServerUnreachable), ("exit", JoinFailed)]
)
async def test_a_failed_join_child(
    kind: str, error: type[Exception], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def fail(target: str, args: list[Any], *, limit: float = 0) -> Any:
        raise ChildFailed(target, kind, "gone")

    monkeypatch.setattr(joinproc, "run_in_child", fail)
    with pytest.raises(error):
        await join_in_child("https://h:1", "K10x::node:s", tmp_path, "n")
