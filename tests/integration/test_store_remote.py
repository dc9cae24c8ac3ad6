"""The store contract through `RemoteStore`: an API worker's view of the main process's
SQLite store, over a real socket pair, as `k3os server --api-workers` runs it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from k3os.store import (
    Compacted,
    FutureRevision,
    Store,
    StoreOptions,
    StoreUnavailable,
    open_store,
)
from k3os.store._remote import RemoteStore, StoreService
from tests.unit.store.conformance import MakeStore, StoreConformance, collect, next_event

pytestmark = pytest.mark.integration


class _Pair:
    """An owned SQLite store, its service, and the worker-side store connected to it."""

    def __init__(self, owner: Store, service: StoreService, remote: RemoteStore) -> None:
        self.owner = owner
        self.service = service
        self.remote = remote

    @classmethod
    async def open(cls, url: str, options: StoreOptions | None = None) -> _Pair:
        owner = await open_store(url, options)
        service = StoreService(owner)
        ours, theirs = socket.socketpair()
        await service.attach(ours)
        return cls(owner, service, await RemoteStore.connect(theirs))

    async def close(self) -> None:
        await self.remote.close()
        await self.service.close()
        await self.owner.close()


@pytest.fixture
async def pairs(tmp_path: Path) -> AsyncIterator[list[_Pair]]:
    opened: list[_Pair] = []
    yield opened
    for pair in opened:
        await pair.close()


@pytest.fixture
async def make_store(tmp_path: Path, pairs: list[_Pair]) -> MakeStore:
    async def make(options: StoreOptions | None = None) -> Store:
        pair = await _Pair.open(f"sqlite://{tmp_path}/db{len(pairs)}/state.db", options)
        pairs.append(pair)
        return pair.remote

    return make


class TestRemoteConformance(StoreConformance):
    """Every promise of the store holds for a worker reaching it through the main process."""


async def test_two_workers_see_each_others_writes_in_order(tmp_path: Path) -> None:
    pair = await _Pair.open(f"sqlite://{tmp_path}/state.db")
    ours, theirs = socket.socketpair()
    await pair.service.attach(ours)
    other = await RemoteStore.connect(theirs)
    try:
        async with await other.watch("/k/") as watch:
            written = []
            for i in range(20):
                via = pair.remote if i % 2 else other
                written.append(await via.create(f"/k/{i:02d}", b"v"))
            seen = await collect(watch, 20)
        assert [e.kv for e in seen] == written
    finally:
        await other.close()
        await pair.close()


async def test_a_watch_from_a_revision_another_worker_wrote_waits_for_it(tmp_path: Path) -> None:
    """A client may bring a revision this worker has not seen yet: not a FutureRevision."""
    pair = await _Pair.open(f"sqlite://{tmp_path}/state.db")
    try:
        kv = await pair.owner.create("/k/a", b"1")  # written by the owner itself
        async with await pair.remote.watch("/k/", start_revision=kv.mod_revision + 1) as watch:
            kv2 = await pair.owner.update("/k/a", b"2", expected_mod_revision=kv.mod_revision)
            assert (await next_event(watch)).kv == kv2
        head = await pair.remote.current_revision()
        with pytest.raises(FutureRevision):
            await pair.remote.watch("/k/", start_revision=head + 2)
    finally:
        await pair.close()


async def test_old_history_is_read_from_the_owner_and_compaction_is_its(tmp_path: Path) -> None:
    pair = await _Pair.open(f"sqlite://{tmp_path}/state.db")
    try:
        first = await pair.owner.create("/k/a", b"0")
        last = first
        for i in range(1, 3000):  # more than the worker's ring remembers
            last = await pair.owner.update(
                "/k/a", b"%d" % i, expected_mod_revision=last.mod_revision
            )
        async with await pair.remote.watch("/k/", start_revision=first.mod_revision) as watch:
            events = await collect(watch, 3000)
        assert [e.kv.value for e in events] == [b"%d" % i for i in range(3000)]
        await pair.remote.compact(last.mod_revision - 10)
        with pytest.raises(Compacted):
            await pair.remote.watch("/k/", start_revision=first.mod_revision + 1)
        with pytest.raises(Compacted):
            await pair.remote.get("/k/a", revision=first.mod_revision)
    finally:
        await pair.close()


async def test_the_owner_going_away_fails_calls_and_ends_watches(tmp_path: Path) -> None:
    pair = await _Pair.open(f"sqlite://{tmp_path}/state.db")
    try:
        watch = await pair.remote.watch("/k/")
        await pair.service.close()  # the main process's end of the link is gone
        await asyncio.wait_for(pair.remote.lost.wait(), 5)
        with pytest.raises(StoreUnavailable):
            await pair.remote.get("/k/a")
        with pytest.raises(StoreUnavailable):
            await next_event(watch)
    finally:
        await pair.close()
