"""The store contract as tests, run unchanged against every driver.

A test module subclasses `StoreConformance` and provides a `make_store` fixture: an
async factory `make_store(options=None) -> Store` whose stores are closed at teardown.
Tests use the `ns` fixture as a key prefix of their own, and only relative revisions, so
they also pass on one shared etcd server (whose revisions are global).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest

from k3os.store import (
    Compacted,
    Conflict,
    Event,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    Store,
    StoreClosed,
    StoreOptions,
    Watch,
)

MakeStore = Callable[..., Awaitable[Store]]
_counter = itertools.count()
WAIT = 15.0


async def next_event(watch: Watch) -> Event:
    return await asyncio.wait_for(anext(watch), WAIT)


async def collect(watch: Watch, count: int) -> list[Event]:
    return [await next_event(watch) for _ in range(count)]


class StoreConformance:
    @pytest.fixture
    def ns(self) -> str:
        return f"/t{next(_counter)}-{id(self) % 10_000}/"

    @pytest.fixture
    async def store(self, make_store: MakeStore) -> Store:
        return await make_store()

    # -- create / get / update / delete -----------------------------------------------

    async def test_create_then_get(self, store: Store, ns: str) -> None:
        before = await store.current_revision()
        kv = await store.create(ns + "a", b"one")
        assert kv.key == ns + "a"
        assert kv.value == b"one"
        assert kv.create_revision == kv.mod_revision > before
        assert kv.version == 1
        assert kv.lease == 0
        assert await store.get(ns + "a") == kv
        assert await store.current_revision() >= kv.mod_revision
        assert await store.get(ns + "missing") is None

    async def test_create_existing_key_raises_key_exists(self, store: Store, ns: str) -> None:
        kv = await store.create(ns + "a", b"one")
        with pytest.raises(KeyExists) as info:
            await store.create(ns + "a", b"two")
        assert info.value.current == kv
        assert isinstance(info.value, Conflict)
        assert (await store.get(ns + "a")) == kv

    async def test_update_is_compare_and_swap(self, store: Store, ns: str) -> None:
        kv = await store.create(ns + "a", b"one")
        kv2 = await store.update(ns + "a", b"two", expected_mod_revision=kv.mod_revision)
        assert kv2.value == b"two"
        assert kv2.version == 2
        assert kv2.create_revision == kv.create_revision
        assert kv2.mod_revision > kv.mod_revision
        with pytest.raises(Conflict) as info:
            await store.update(ns + "a", b"stale", expected_mod_revision=kv.mod_revision)
        assert info.value.current == kv2
        assert not isinstance(info.value, KeyNotFound)
        assert await store.get(ns + "a") == kv2

    async def test_update_missing_key_raises_not_found(self, store: Store, ns: str) -> None:
        with pytest.raises(KeyNotFound) as info:
            await store.update(ns + "nope", b"x", expected_mod_revision=1)
        assert info.value.current is None
        assert await store.get(ns + "nope") is None

    async def test_delete(self, store: Store, ns: str) -> None:
        kv = await store.create(ns + "a", b"one")
        with pytest.raises(Conflict) as info:
            await store.delete(ns + "a", expected_mod_revision=kv.mod_revision + 100)
        assert info.value.current == kv
        result = await store.delete(ns + "a", expected_mod_revision=kv.mod_revision)
        assert result.prev_kv == kv
        assert result.revision > kv.mod_revision
        assert await store.get(ns + "a") is None
        with pytest.raises(KeyNotFound):
            await store.delete(ns + "a")
        again = await store.create(ns + "a", b"new life")
        assert again.version == 1
        assert again.create_revision == again.mod_revision > result.revision

    async def test_unconditional_delete(self, store: Store, ns: str) -> None:
        await store.create(ns + "a", b"one")
        result = await store.delete(ns + "a")
        assert result.prev_kv.value == b"one"

    async def test_values_are_bytes_and_keys_unicode(self, store: Store, ns: str) -> None:
        binary = bytes(range(256)) * 4
        await store.create(ns + "bin", binary)
        await store.create(ns + "empty", b"")
        await store.create(ns + "ünïcødé/☃", b"snow")
        assert (await store.get(ns + "bin")).value == binary  # type: ignore[union-attr]
        assert (await store.get(ns + "empty")).value == b""  # type: ignore[union-attr]
        assert (await store.get(ns + "ünïcødé/☃")).value == b"snow"  # type: ignore[union-attr]

    async def test_bad_arguments_raise_before_writing(self, store: Store, ns: str) -> None:
        before = await store.current_revision()
        with pytest.raises(ValueError, match="non-empty str"):
            await store.create("", b"x")
        with pytest.raises(TypeError, match="bytes"):
            await store.create(ns + "a", "text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="valid Unicode"):
            await store.create(ns + "\udc80", b"x")
        with pytest.raises(ValueError, match="valid Unicode"):
            await store.get(ns + "\udc80")
        with pytest.raises(ValueError, match="valid Unicode"):
            await store.range(ns + "\udc80")
        with pytest.raises(ValueError, match="valid Unicode"):
            await store.watch(ns + "\udc80")
        with pytest.raises(ValueError, match="prefixes are str"):
            await store.range(None)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="ttl"):
            await store.create(ns + "a", b"x", ttl=0)
        with pytest.raises(ValueError, match="limit"):
            await store.range(ns, limit=-1)
        assert await store.current_revision() == before

    # -- reads at a revision -----------------------------------------------------------

    async def test_get_at_revision(self, store: Store, ns: str) -> None:
        v1 = await store.create(ns + "a", b"one")
        v2 = await store.update(ns + "a", b"two", expected_mod_revision=v1.mod_revision)
        gone = await store.delete(ns + "a")
        assert await store.get(ns + "a", revision=v1.mod_revision) == v1
        assert await store.get(ns + "a", revision=v2.mod_revision) == v2
        assert await store.get(ns + "a", revision=gone.revision) is None
        assert await store.get(ns + "a", revision=v1.mod_revision - 1) is None

    async def test_future_revision(self, store: Store, ns: str) -> None:
        head = (await store.create(ns + "a", b"x")).mod_revision
        with pytest.raises(FutureRevision):
            await store.get(ns + "a", revision=head + 1000)
        with pytest.raises(FutureRevision):
            await store.range(ns, revision=head + 1000)
        with pytest.raises(FutureRevision):
            await store.watch(ns, start_revision=head + 1000)
        with pytest.raises(FutureRevision):
            await store.compact(head + 1000)

    async def test_range_prefix_order_limit_count(self, store: Store, ns: str) -> None:
        for name in ["c", "a", "b", "d/x", "d/y"]:
            await store.create(ns + name, name.encode())
        await store.create(ns[:-1] + "-sibling", b"not under the prefix")
        result = await store.range(ns)
        assert [kv.key for kv in result.items] == [ns + k for k in ["a", "b", "c", "d/x", "d/y"]]
        assert result.count == 5
        assert not result.more
        assert result.revision >= max(kv.mod_revision for kv in result.items)
        limited = await store.range(ns, limit=2)
        assert [kv.key for kv in limited.items] == [ns + "a", ns + "b"]
        assert limited.more
        assert limited.count == 5
        sub = await store.range(ns + "d/")
        assert [kv.value for kv in sub.items] == [b"d/x", b"d/y"]
        assert (await store.range(ns + "zzz")).items == []

    async def test_paginated_range_at_a_fixed_revision(self, store: Store, ns: str) -> None:
        for i in range(10):
            await store.create(f"{ns}{i:02}", b"v0")
        first = await store.range(ns, limit=4)
        snapshot = first.revision
        # Churn after the snapshot: an update, a delete and a new key inside the range.
        kv = await store.get(ns + "05")
        assert kv is not None
        await store.update(ns + "05", b"v1", expected_mod_revision=kv.mod_revision)
        await store.delete(ns + "06")
        await store.create(ns + "04a", b"late")
        seen = [kv.key for kv in first.items]
        page = first
        while page.more:
            page = await store.range(ns, revision=snapshot, limit=4, start_after=page.items[-1].key)
            assert page.revision == snapshot
            assert page.count == 10 - len(seen)
            seen += [kv.key for kv in page.items]
            assert all(kv.value == b"v0" for kv in page.items)
        assert seen == [f"{ns}{i:02}" for i in range(10)]
        now = await store.range(ns)
        assert [kv.key for kv in now.items] == [
            f"{ns}{k}" for k in ["00", "01", "02", "03", "04", "04a", "05", "07", "08", "09"]
        ]

    async def test_range_at_revision_sees_deleted_and_not_later_keys(
        self, store: Store, ns: str
    ) -> None:
        a = await store.create(ns + "a", b"a")
        b = await store.create(ns + "b", b"b")
        await store.delete(ns + "a")
        await store.create(ns + "c", b"c")
        old = await store.range(ns, revision=b.mod_revision)
        assert old.items == [a, b]
        assert old.count == 2
        assert old.revision == b.mod_revision
        page = await store.range(ns, revision=b.mod_revision, limit=1)
        assert page.items == [a]
        assert page.more

    # -- watch -------------------------------------------------------------------------

    async def test_watch_replays_history_then_follows(self, store: Store, ns: str) -> None:
        v1 = await store.create(ns + "a", b"one")
        v2 = await store.update(ns + "a", b"two", expected_mod_revision=v1.mod_revision)
        await store.create(ns[:-1] + "-other", b"outside the prefix")
        async with await store.watch(ns, start_revision=v1.mod_revision) as watch:
            first, second = await collect(watch, 2)
            assert (first.type, first.kv, first.prev_kv) == (EventType.PUT, v1, None)
            assert (second.type, second.kv, second.prev_kv) == (EventType.PUT, v2, v1)
            gone = await store.delete(ns + "a")
            third = await next_event(watch)
            assert third.type is EventType.DELETE
            assert third.kv.key == ns + "a"
            assert third.revision == gone.revision
            assert third.prev_kv == v2

    async def test_watch_without_start_sees_only_new_writes(self, store: Store, ns: str) -> None:
        await store.create(ns + "old", b"x")
        async with await store.watch(ns) as watch:
            new = await store.create(ns + "new", b"y")
            event = await next_event(watch)
            assert event.kv == new

    async def test_watch_delivers_every_event_once_in_order(self, store: Store, ns: str) -> None:
        start = await store.current_revision() + 1
        async with await store.watch(ns, start_revision=start) as watch:

            async def writer(n: int) -> None:
                kv = await store.create(f"{ns}w{n}", b"0")
                for i in range(1, 10):
                    kv = await store.update(
                        kv.key, b"%d" % i, expected_mod_revision=kv.mod_revision
                    )
                await store.delete(kv.key)

            await asyncio.gather(*(writer(n) for n in range(8)))
            events = await collect(watch, 8 * 11)
        revisions = [e.revision for e in events]
        assert revisions == sorted(set(revisions))
        per_key: dict[str, list[Event]] = {}
        for event in events:
            per_key.setdefault(event.kv.key, []).append(event)
        assert len(per_key) == 8
        for key_events in per_key.values():
            assert [e.type for e in key_events] == [EventType.PUT] * 10 + [EventType.DELETE]
            assert [e.kv.value for e in key_events[:10]] == [b"%d" % i for i in range(10)]
            for before, after in itertools.pairwise(key_events):
                assert after.prev_kv == before.kv

    async def test_two_watchers_independent(self, store: Store, ns: str) -> None:
        async with (
            await store.watch(ns + "a/") as wa,
            await store.watch(ns + "b/") as wb,
        ):
            await store.create(ns + "a/1", b"a")
            await store.create(ns + "b/1", b"b")
            assert (await next_event(wb)).kv.key == ns + "b/1"
            assert (await next_event(wa)).kv.key == ns + "a/1"

    # -- compaction --------------------------------------------------------------------

    async def test_compaction(self, store: Store, ns: str) -> None:
        v1 = await store.create(ns + "a", b"one")
        v2 = await store.update(ns + "a", b"two", expected_mod_revision=v1.mod_revision)
        b = await store.create(ns + "b", b"b")
        await store.delete(ns + "b")
        v3 = await store.update(ns + "a", b"three", expected_mod_revision=v2.mod_revision)
        compact_at = v3.mod_revision - 1  # after b's deletion
        await store.compact(compact_at)
        with pytest.raises(Compacted) as info:
            await store.get(ns + "a", revision=v1.mod_revision)
        assert info.value.compact_revision == compact_at
        with pytest.raises(Compacted):
            await store.range(ns, revision=b.mod_revision)
        with pytest.raises(Compacted):
            await store.watch(ns, start_revision=v2.mod_revision)
        with pytest.raises(Compacted):
            await store.watch(ns, start_revision=compact_at)
        # The compact revision itself stays readable, and everything after it watchable.
        assert (await store.range(ns, revision=compact_at)).items == [v2]
        async with await store.watch(ns, start_revision=compact_at + 1) as watch:
            event = await next_event(watch)
            assert (event.kv, event.prev_kv) == (v3, v2)
        await store.compact(compact_at - 1)  # below: nothing happens
        assert await store.get(ns + "a") == v3

    async def test_automatic_compaction_keeps_the_window(
        self, make_store: MakeStore, ns: str
    ) -> None:
        store = await make_store(
            StoreOptions(retention=3, retention_seconds=0, compact_interval=0.05)
        )
        kv = await store.create(ns + "a", b"0")
        first = kv.mod_revision
        for i in range(1, 10):
            kv = await store.update(ns + "a", b"%d" % i, expected_mod_revision=kv.mod_revision)
        for _ in range(400):
            try:
                await store.get(ns + "a", revision=first)
            except Compacted:
                break
            await asyncio.sleep(0.025)
        else:
            pytest.fail("automatic compaction did not happen")
        assert await store.get(ns + "a", revision=kv.mod_revision - 1) is not None

    # -- TTL ---------------------------------------------------------------------------

    async def test_ttl_expiry_deletes_with_an_event(self, store: Store, ns: str) -> None:
        async with await store.watch(ns) as watch:
            kv = await store.create(ns + "ev", b"event", ttl=1)
            forever = await store.create(ns + "keep", b"x")
            assert kv.lease != 0
            assert (await next_event(watch)).kv == kv
            assert (await next_event(watch)).kv == forever
            event = await next_event(watch)
            assert event.type is EventType.DELETE
            assert event.prev_kv == kv
            assert await store.get(ns + "ev") is None
            assert await store.get(ns + "keep") == forever

    async def test_rewriting_a_key_renews_its_ttl(self, store: Store, ns: str) -> None:
        kv = await store.create(ns + "a", b"x", ttl=1)
        kv = await store.update(ns + "a", b"y", expected_mod_revision=kv.mod_revision)
        assert kv.lease == 0
        async with await store.watch(ns) as watch:
            short = await store.create(ns + "b", b"z", ttl=1)
            assert (await next_event(watch)).kv == short
            event = await next_event(watch)  # b expires; a (no TTL any more) must not
            assert event.kv.key == ns + "b"
        assert await store.get(ns + "a") == kv

    # -- lifecycle ---------------------------------------------------------------------

    async def test_close_ends_watches_and_refuses_work(
        self, make_store: MakeStore, ns: str
    ) -> None:
        store = await make_store()
        watch = await store.watch(ns)
        pending = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.05)
        await store.close()
        with pytest.raises(StoreClosed):
            await asyncio.wait_for(pending, WAIT)
        with pytest.raises(StoreClosed):
            await store.get(ns + "a")
        with pytest.raises(StoreClosed):
            await store.create(ns + "a", b"x")
        await store.close()  # idempotent
        await watch.aclose()

    async def test_watch_aclose_ends_iteration(self, store: Store, ns: str) -> None:
        watch = await store.watch(ns)
        pending = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.05)
        await watch.aclose()
        with pytest.raises(StoreClosed):
            await asyncio.wait_for(pending, WAIT)
        await watch.aclose()
