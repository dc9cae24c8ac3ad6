"""Events expire in the store: every write of an Event gives its key the server's
`--event-ttl` (as kube-apiserver's option of the same name does with etcd leases); other
objects get none."""

from __future__ import annotations

import asyncio
from typing import Any

from k3os.apiserver.storage import ObjectStore
from k3os.store import Store
from tests.unit.apiserver._api import Api, api_server, cm

EVENT = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "e1", "namespace": "default"},
    "involvedObject": {"kind": "Node", "name": "n1"},
    "reason": "Tested",
    "message": "a test event",
    "type": "Normal",
}
EVENT_V1 = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": {"name": "e2", "namespace": "default"},
    "eventTime": "2026-01-02T03:04:05.000000Z",
    "reportingController": "k3os.io/test",
    "reportingInstance": "test-1",
    "action": "Testing",
    "reason": "Tested",
    "regarding": {"kind": "Node", "name": "n1"},
    "type": "Normal",
}


def ttls_written(store: Store) -> list[tuple[str, int | None]]:
    """Record the key and TTL of every create and update the store is asked for."""
    seen: list[tuple[str, int | None]] = []
    create, update = store.create, store.update

    async def spy_create(key: str, value: bytes, *, ttl: int | None = None) -> Any:
        seen.append((key, ttl))
        return await create(key, value, ttl=ttl)

    async def spy_update(key: str, value: bytes, *, ttl: int | None = None, **kw: Any) -> Any:
        seen.append((key, ttl))
        return await update(key, value, ttl=ttl, **kw)

    store.create = spy_create  # type: ignore[method-assign]
    store.update = spy_update  # type: ignore[method-assign]
    return seen


async def write_all(api: Api) -> None:
    for path, body in (
        ("/api/v1/namespaces/default/events", EVENT),
        ("/apis/events.k8s.io/v1/namespaces/default/events", EVENT_V1),
        ("/api/v1/namespaces/default/configmaps", cm("c1")),
    ):
        resp = await api.create(path, body)
        assert resp.status_code == 201, resp.text
    resp = await api.http.patch(
        "/api/v1/namespaces/default/events/e1",
        json={"count": 2},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert resp.status_code == 200, resp.text


async def test_every_event_write_carries_the_servers_ttl() -> None:
    async with api_server(event_ttl=7200) as api:
        seen = ttls_written(api.store)
        await write_all(api)
    by_key = dict(seen)
    assert [ttl for key, ttl in seen if "/events/" in key] == [7200, 7200, 7200], seen
    assert by_key["/registry/configmaps/default/c1"] is None


async def test_the_default_is_an_hour() -> None:
    async with api_server() as api:
        seen = ttls_written(api.store)
        await write_all(api)
    assert {ttl for key, ttl in seen if "/events/" in key} == {3600}, seen


def test_object_store_ttl_per_resource() -> None:
    async def check() -> None:
        async with api_server() as api:
            events = api.ctx.registry.lookup("", "v1", "events")
            configmaps = api.ctx.registry.lookup("", "v1", "configmaps")
            assert events is not None and configmaps is not None
            assert ObjectStore(api.store).ttl(events) == 3600  # the registry's default
            assert ObjectStore(api.store, event_ttl=5).ttl(events) == 5
            assert ObjectStore(api.store, event_ttl=5).ttl(configmaps) is None

    asyncio.run(check())


async def test_an_event_is_gone_when_its_ttl_runs_out() -> None:
    async with api_server(event_ttl=1) as api:
        resp = await api.create("/api/v1/namespaces/default/events", EVENT)
        assert resp.status_code == 201, resp.text
        for _ in range(100):  # the memory store expires keys on the wall clock
            resp = await api.http.get("/api/v1/namespaces/default/events/e1")
            if resp.status_code == 404:
                break
            await asyncio.sleep(0.05)
        assert resp.status_code == 404, resp.text
        resp = await api.http.get("/api/v1/namespaces/default/configmaps")
        assert resp.status_code == 200
