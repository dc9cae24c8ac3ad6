"""The store contract through `RemoteStore`: an API worker's view of the main process's
SQLite store, over a real socket pair, as `k3os server --api-workers` runs it."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from k3os.store import (
    Compacted,
    Conflict,
    Event,
    EventType,
    FutureRevision,
    KeyExists,
    KeyValue,
    Store,
    StoreOptions,
    StoreUnavailable,
    open_store,
)
from k3os.store._recent import Recent
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


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 5 s")


async def test_recent_items_follow_the_owners_writes(tmp_path: Path) -> None:
    """What a worker read or wrote is known without a round trip, and the event stream keeps
    it current: another process's update replaces it, a deletion drops it; keys it never
    touched are not kept."""
    pair = await _Pair.open(f"sqlite://{tmp_path}/state.db")
    remote = pair.remote
    try:
        a = await pair.owner.create("/k/a", b"1")
        await pair.owner.create("/k/untouched", b"1")
        assert remote.recent("/k/a") is None
        assert await remote.get("/k/a") == a
        assert remote.recent("/k/a") == a
        a2 = await pair.owner.update("/k/a", b"2", expected_mod_revision=a.mod_revision)
        await _until(lambda: remote.recent("/k/a") == a2)
        a3 = await remote.update("/k/a", b"3", expected_mod_revision=a2.mod_revision)
        assert remote.recent("/k/a") == a3  # its own write, at once
        with pytest.raises(Conflict):  # a write that found another item keeps that one
            await remote.update("/k/a", b"x", expected_mod_revision=a.mod_revision)
        assert remote.recent("/k/a") == a3
        b = await remote.create("/k/b", b"1")
        assert remote.recent("/k/b") == b
        await pair.owner.delete("/k/b")
        await _until(lambda: remote.recent("/k/b") is None)
        await remote.delete("/k/a")
        assert remote.recent("/k/a") is None
        assert remote.recent("/k/untouched") is None
        assert await remote.get("/k/gone") is None and remote.recent("/k/gone") is None
        await remote.close()
        assert remote.recent("/k/a") is None
    finally:
        await pair.close()


def _kv(key: str, rev: int, size: int = 1) -> KeyValue:
    return KeyValue(key, b"v" * size, 1, rev, 1)


def test_recent_items_are_bounded_and_only_move_forward() -> None:
    recent = Recent(max_keys=3, max_bytes=100)
    for i in range(4):
        recent.remember(_kv(f"/k/{i}", 10 + i))
    assert recent.get("/k/0") is None  # the least recently used went first
    assert recent.get("/k/1") is not None  # and now /k/1 is the most recent
    recent.remember(_kv("/k/4", 20))
    assert recent.get("/k/2") is None and recent.get("/k/1") is not None
    recent.remember(_kv("/k/1", 5))  # older than what is kept: ignored
    assert recent.get("/k/1") == _kv("/k/1", 11)
    recent.remember(_kv("/k/big", 30, size=99))  # the byte bound evicts the oldest
    assert recent.get("/k/big") is not None
    assert sum(recent.get(k) is not None for k in ("/k/1", "/k/3", "/k/4")) <= 1
    recent.forget("/k/big", 29)  # a deletion before the item: ignored
    assert recent.get("/k/big") is not None
    recent.follow([
        Event(EventType.PUT, _kv("/k/big", 31, size=2), None),
        Event(EventType.PUT, _kv("/k/never-held", 32), None),
    ])  # fmt: skip
    assert recent.get("/k/big") == _kv("/k/big", 31, size=2)
    assert recent.get("/k/never-held") is None
    recent.follow([Event(EventType.DELETE, KeyValue("/k/big", b"", 0, 33, 0), None)])
    assert recent.get("/k/big") is None
    recent.clear()
    assert recent.get("/k/4") is None


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


async def test_a_fault_in_the_owner_answers_the_worker_instead_of_hanging(tmp_path: Path) -> None:
    """A write the owner's driver answers with a future (SQLite's), and a read it answers
    with a coroutine: either failing with something that is not a store error reaches the
    worker as StoreUnavailable, and the link goes on serving."""
    pair = await _Pair.open(f"sqlite://{tmp_path}/state.db")
    owner = pair.owner
    loop = asyncio.get_running_loop()

    def broken_create(key: str, value: bytes, ttl: int | None) -> asyncio.Future[KeyValue]:
        future: asyncio.Future[KeyValue] = loop.create_future()
        loop.call_soon(future.set_exception, RuntimeError("a bug"))
        return future

    async def broken_get(key: str, revision: int) -> KeyValue | None:
        raise RuntimeError("another bug")

    def broken_delete(key: str, expected_mod_revision: int | None) -> Any:
        raise TypeError("a bug before any future")

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(owner, "_create", broken_create)
            mp.setattr(owner, "_get", broken_get)
            mp.setattr(owner, "_delete", broken_delete)
            with pytest.raises(StoreUnavailable, match="create failed in the server: a bug"):
                await asyncio.wait_for(pair.remote.create("/k/a", b"1"), 5)
            with pytest.raises(StoreUnavailable, match="get failed in the server"):
                await asyncio.wait_for(pair.remote.get("/k/a"), 5)
            with pytest.raises(StoreUnavailable, match="delete failed in the server"):
                await asyncio.wait_for(pair.remote.delete("/k/a"), 5)
        made = await pair.remote.create("/k/a", b"1")
        with pytest.raises(Conflict):  # a store error keeps its kind through the future
            await pair.remote.update("/k/a", b"2", expected_mod_revision=made.mod_revision + 5)
        assert (await pair.remote.get("/k/a")) == made
    finally:
        await pair.close()


async def test_refused_writes_leave_no_garbage_for_the_collector(tmp_path: Path) -> None:
    """A write the store refuses (a create of a key that exists, an update at an old
    revision) is answered in both processes' code without reference cycles: its error
    carries no traceback through the writer's frame (whose batch holds the error), and
    the link does not raise it again in a frame that holds it. A fleet's agents make such
    writes on every start (a Lease create before its update); each one was a cycle of
    frames, futures and operations that only the garbage collector freed."""
    pair = await _Pair.open(f"sqlite://{tmp_path}/state.db")
    try:
        made = await pair.remote.create("/k/a", b"1")
        for _ in range(3):  # warm up: first-use caches are not garbage
            with pytest.raises(KeyExists):
                await pair.remote.create("/k/a", b"1")
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                with pytest.raises(KeyExists):
                    await pair.remote.create("/k/a", b"1")
                with pytest.raises(Conflict):
                    await pair.remote.update(
                        "/k/a", b"2", expected_mod_revision=made.mod_revision + 5
                    )
            found = gc.collect()
        finally:
            gc.enable()
        assert found == 0
    finally:
        await pair.close()
