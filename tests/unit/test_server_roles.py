"""The server's own node gets k3s's control-plane roles, and gets them back after the Node
is deleted and registered anew."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from k3os.cli.agent import SERVER_ROLES, _label_server_node
from k3os.client import NotFoundError

pytestmark = pytest.mark.unit


class Nodes:
    def __init__(self) -> None:
        self.labels: dict[str, str] | None = None  # None: not registered
        self.patches = 0

    async def get(self, rt: Any, name: str) -> dict[str, Any]:
        if self.labels is None:
            raise NotFoundError(404, "NotFound", f'nodes "{name}" not found', {})
        return {"metadata": {"name": name, "labels": dict(self.labels)}}

    async def patch(self, rt: Any, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        assert self.labels is not None
        self.labels.update(patch["metadata"]["labels"])
        self.patches += 1
        return {}


async def test_roles_are_given_once_registered_and_again_after_a_new_registration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nodes = Nodes()

    @contextlib.asynccontextmanager
    async def connect(path: Any, **kw: Any) -> AsyncIterator[Nodes]:
        yield nodes

    monkeypatch.setattr("k3os.client.connect_kubeconfig", connect)
    task = asyncio.create_task(_label_server_node(Path("k"), "vm", every=0.01))

    async def until(check: Any) -> None:
        for _ in range(500):
            if check():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    try:
        await asyncio.sleep(0.05)
        assert nodes.patches == 0  # not registered yet: waits
        nodes.labels = {"kubernetes.io/hostname": "vm"}
        await until(lambda: nodes.patches == 1)
        assert nodes.labels.items() >= SERVER_ROLES.items()
        await asyncio.sleep(0.05)
        assert nodes.patches == 1  # labelled: looked at, not written again
        nodes.labels = {"kubernetes.io/hostname": "vm"}  # deleted and registered anew
        await until(lambda: nodes.patches == 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
