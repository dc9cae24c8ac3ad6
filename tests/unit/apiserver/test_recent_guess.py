"""Writes that start from the store's recent item (`Store.recent`, an API worker's) instead
of a read: only the compare-and-swap settles; a stale guess costs a read, never a write."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from k3os.store import KeyValue
from tests.unit.apiserver._api import Api, api_server, cm

CMS = "/api/v1/namespaces/default/configmaps"
KEY = "/registry/configmaps/default/m"


class Guesses:
    """Stands in for a worker's recent items: what `recent` answers, and the reads made."""

    def __init__(self, api: Api) -> None:
        self.items: dict[str, KeyValue] = {}
        self.reads: list[str] = []
        store = api.store
        real_get = store.get

        async def get(key: str, *, revision: int | None = None) -> KeyValue | None:
            self.reads.append(key)
            return await real_get(key, revision=revision)

        store.recent = self.items.get  # type: ignore[method-assign]
        store.get = get  # type: ignore[method-assign]

    async def remember(self, api: Api, key: str) -> KeyValue:
        kv = await api.store.get(key)
        assert kv is not None
        self.items[key] = kv
        self.reads.clear()
        return kv


@asynccontextmanager
async def guessing() -> AsyncIterator[tuple[Api, Guesses]]:
    async with api_server() as api:
        yield api, Guesses(api)


async def _merge(api: Api, body: dict[str, Any], **params: str) -> Any:
    return await api.http.patch(
        f"{CMS}/m",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/merge-patch+json"},
        params=params,
    )


async def test_a_current_guess_spares_the_read() -> None:
    async with guessing() as (api, guesses):
        await api.create(CMS, cm("m", a="1"))
        await guesses.remember(api, KEY)
        r = await _merge(api, {"data": {"b": "2"}})
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {"a": "1", "b": "2"}
        assert KEY not in guesses.reads


async def test_a_stale_guess_loses_no_write() -> None:
    async with guessing() as (api, guesses):
        await api.create(CMS, cm("m", a="1"))
        await guesses.remember(api, KEY)  # then someone else writes
        await _merge(api, {"data": {"a": "2"}})
        guesses.reads.clear()
        r = await _merge(api, {"data": {"b": "3"}})
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {"a": "2", "b": "3"}
        assert guesses.reads == [KEY]  # the conflict sent it to a real read
        stored = await api.http.get(f"{CMS}/m")
        assert stored.json()["data"] == {"a": "2", "b": "3"}


async def test_a_pinned_version_is_judged_on_the_real_object() -> None:
    async with guessing() as (api, guesses):
        await api.create(CMS, cm("m", a="1"))
        old = await guesses.remember(api, KEY)
        current = (await _merge(api, {"data": {"a": "2"}})).json()["metadata"]["resourceVersion"]
        # Pinned to the object as it is: the stale guess must not turn it into a 409.
        ok = await _merge(api, {"metadata": {"resourceVersion": current}, "data": {"c": "1"}})
        assert ok.status_code == 200, ok.text
        # Pinned to the version the guess holds, which is no longer current: 409.
        guesses.items[KEY] = old
        stale = await _merge(
            api, {"metadata": {"resourceVersion": str(old.mod_revision)}, "data": {"d": "1"}}
        )
        assert stale.status_code == 409, stale.text


async def test_nothing_to_change_on_a_stale_guess_is_checked_on_a_read() -> None:
    async with guessing() as (api, guesses):
        await api.create(CMS, cm("m", a="1", b="3"))
        await guesses.remember(api, KEY)  # holds b=3
        await _merge(api, {"data": {"b": None}})  # b removed since
        r = await _merge(api, {"data": {"b": "3"}})  # a no-op on the guess, not on the store
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {"a": "1", "b": "3"}
        assert (await api.http.get(f"{CMS}/m")).json()["data"] == {"a": "1", "b": "3"}


async def test_an_object_deleted_since_the_guess_is_not_found() -> None:
    async with guessing() as (api, guesses):
        await api.create(CMS, cm("m", a="1"))
        await guesses.remember(api, KEY)
        assert (await api.http.delete(f"{CMS}/m")).status_code == 200
        r = await _merge(api, {"data": {"b": "2"}})
        assert r.status_code == 404, r.text
        assert (await api.http.get(f"{CMS}/m")).status_code == 404


async def test_a_put_and_a_dry_run_on_guesses() -> None:
    async with guessing() as (api, guesses):
        created = (await api.create(CMS, cm("m", a="1"))).json()
        await guesses.remember(api, KEY)
        await _merge(api, {"data": {"a": "2"}})
        # A PUT pinned to the version the guess holds was overtaken: 409, as without it.
        r = await api.http.put(f"{CMS}/m", json={**created, "data": {"a": "9"}})
        assert r.status_code == 409, r.text
        guesses.reads.clear()
        dry = await _merge(api, {"data": {"x": "1"}}, dryRun="All")
        assert dry.status_code == 200 and dry.json()["data"] == {"a": "2", "x": "1"}
        assert guesses.reads == [KEY]  # a dry run reads: it answers with what it would write


async def test_a_namespace_known_active_needs_no_read() -> None:
    async with guessing() as (api, guesses):
        ns_key = "/registry/namespaces/default"
        await guesses.remember(api, ns_key)
        assert (await api.create(CMS, cm("a"))).status_code == 201
        assert ns_key not in guesses.reads
        # A guess that says Terminating is read again (here the namespace is fine).
        kv = guesses.items[ns_key]
        terminating = json.loads(kv.value)
        terminating["status"] = {"phase": "Terminating"}
        guesses.items[ns_key] = KeyValue(
            kv.key, json.dumps(terminating).encode(), kv.create_revision, kv.mod_revision,
            kv.version, kv.lease,
        )  # fmt: skip
        assert (await api.create(CMS, cm("b"))).status_code == 201
        assert ns_key in guesses.reads
        # Unknown namespaces are read, and refused when absent.
        r = await api.create("/api/v1/namespaces/nowhere/configmaps", cm("c", ns="nowhere"))
        assert r.status_code == 404
