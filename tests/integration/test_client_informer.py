"""Informers against a real `k3os server` over TLS on SQLite: a server restart (SIGKILL)
loses and repeats nothing, and a watch from a compacted version relists and reports what
changed in between exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from k3os.client import (
    Backoff,
    ConflictError,
    GoneError,
    Informer,
    connect_kubeconfig,
)
from k3os.client.resources import CONFIG_MAPS, NAMESPACES
from tests.integration._apiserver import RunningServer, free_port
from tests.integration._controlplane import eventually, start_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("informer") / "data"
    data.mkdir()
    db = data / "state.db"
    # Small retention and frequent compaction, so a test can make a version go away.
    store = f"sqlite://{db}?retention=40&retention_seconds=0&compact_interval=0.2"
    extra = ["--disable-controller-manager", "--datastore-endpoint", store]
    srv = start_server(data, free_port(), extra)
    srv.extra = extra  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def recorder(informer: Informer) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []

    def handler(change: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        seen.append((change, obj["metadata"]["name"], (obj.get("data") or {}).get("v", "")))

    informer.add_handler(handler)
    return seen


def configmap(ns: str, name: str, value: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "data": {"v": value}}


async def test_informer_survives_a_server_restart(server: RunningServer) -> None:
    async with connect_kubeconfig(server.kubeconfig) as kube:
        await kube.create(NAMESPACES, {"metadata": {"name": "restart"}})
        informer = Informer(
            kube, CONFIG_MAPS, namespace="restart", backoff=Backoff(initial=0.1, maximum=0.5)
        )
        seen = recorder(informer)
        task = asyncio.create_task(informer.run())
        try:
            await asyncio.wait_for(informer.wait_synced(), 20)
            await kube.create(CONFIG_MAPS, configmap("restart", "a", "1"))
            await kube.create(CONFIG_MAPS, configmap("restart", "b", "1"))
            await eventually(lambda: _ready(len(seen) == 2), what="a and b")

            server.proc.kill()  # no goodbye: the watch connection just drops
            server.proc.wait()
            restarted = start_server(server.data_dir, server.port, server.extra)  # type: ignore[attr-defined]
            server.proc = restarted.proc

            # Writes right after the restart, whether or not the informer is back yet.
            await kube.create(CONFIG_MAPS, configmap("restart", "c", "1"))
            a = await kube.get(CONFIG_MAPS, "a", "restart")
            await kube.replace(CONFIG_MAPS, {**a, "data": {"v": "2"}})
            await kube.delete(CONFIG_MAPS, "b", "restart")
            await kube.create(CONFIG_MAPS, configmap("restart", "z", "end"))
            await eventually(lambda: _ready(("ADDED", "z", "end") in seen), what="z")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert seen == [
        ("ADDED", "a", "1"),
        ("ADDED", "b", "1"),
        ("ADDED", "c", "1"),
        ("MODIFIED", "a", "2"),
        ("DELETED", "b", "1"),
        ("ADDED", "z", "end"),
    ]
    assert informer.lists == 1  # it resumed the watch; it did not need to list again
    assert sorted(n for _, n in informer.cache.list_keys()) == ["a", "c", "z"]


async def test_informer_relists_on_410_and_reports_the_difference(server: RunningServer) -> None:
    async with connect_kubeconfig(server.kubeconfig) as kube:
        await kube.create(NAMESPACES, {"metadata": {"name": "gone"}})
        for name in ("keep", "change", "drop"):
            await kube.create(CONFIG_MAPS, configmap("gone", name, "1"))
        informer = Informer(kube, CONFIG_MAPS, namespace="gone")
        seen = recorder(informer)
        task = asyncio.create_task(informer.run())
        await asyncio.wait_for(informer.wait_synced(), 20)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        stale = informer.resource_version
        assert len(seen) == 3

        # While it is stopped: changes, then enough churn that its version is compacted.
        change = await kube.get(CONFIG_MAPS, "change", "gone")
        await kube.replace(CONFIG_MAPS, {**change, "data": {"v": "2"}})
        await kube.delete(CONFIG_MAPS, "drop", "gone")
        await kube.create(CONFIG_MAPS, configmap("gone", "new", "1"))
        await kube.create(CONFIG_MAPS, configmap("default", "churn", "0"))
        for i in range(60):
            churn = await kube.get(CONFIG_MAPS, "churn", "default")
            try:
                await kube.replace(CONFIG_MAPS, {**churn, "data": {"v": str(i)}})
            except ConflictError:
                continue

        async def compacted() -> bool:
            try:
                async for _ in kube.watch(
                    CONFIG_MAPS, "gone", resource_version=stale, timeout_seconds=1
                ):
                    pass
            except GoneError:
                return True
            return False

        await eventually(compacted, what=f"version {stale} to be compacted")
        del seen[:]
        task = asyncio.create_task(informer.run())
        try:
            await eventually(lambda: _ready(len(seen) >= 3), what="the relist")
            await asyncio.sleep(0.5)  # anything extra would show up now
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert sorted(seen) == [("ADDED", "new", "1"), ("DELETED", "drop", "1"),
                            ("MODIFIED", "change", "2")]  # fmt: skip
    assert informer.lists == 2
    assert sorted(n for _, n in informer.cache.list_keys()) == ["change", "keep", "new"]


async def _ready(value: bool) -> bool:
    return value
