"""The shared watch's index: a watch of one object's key is offered only that key's events;
prefix watches see every event under their prefix; closing and failing reach both."""

from __future__ import annotations

import asyncio

import pytest

from k3os.apiserver.broadcast import Broadcaster, is_object_key
from k3os.store import Event, StoreUnavailable, open_store

pytestmark = pytest.mark.unit


def _keys(queue: asyncio.Queue[object]) -> list[str]:
    out = []
    while not queue.empty():
        item = queue.get_nowait()
        assert isinstance(item, Event)
        out.append(item.kv.key)
    return out


def test_object_keys_and_prefixes() -> None:
    assert is_object_key("/registry/minions/n1")
    assert not is_object_key("/registry/minions/")
    assert not is_object_key("/registry/configmaps/default/")


async def test_a_watch_of_one_key_gets_only_that_keys_events() -> None:
    store = await open_store("memory://")
    hub = Broadcaster(store, "/k/")
    await hub.start()
    start = hub.covered_from
    one = hub.subscribe("/k/n1", start)
    same = hub.subscribe("/k/n1", start)
    other = hub.subscribe("/k/n10", start)
    everything = hub.subscribe("/k/", start)
    assert one and same and other and everything
    assert set(hub.by_key) == {"/k/n1", "/k/n10"} and hub.by_prefix == {everything}
    for key in ("/k/n1", "/k/n10", "/k/n2", "/k/n1"):
        kv = await store.get(key)
        if kv is None:
            await store.create(key, b"v")
        else:
            await store.update(key, b"w", expected_mod_revision=kv.mod_revision)
    await asyncio.sleep(0.05)
    assert _keys(one.queue) == ["/k/n1", "/k/n1"]  # not /k/n10, though it starts with /k/n1
    assert _keys(same.queue) == ["/k/n1", "/k/n1"]
    assert _keys(other.queue) == ["/k/n10"]
    assert _keys(everything.queue) == ["/k/n1", "/k/n10", "/k/n2", "/k/n1"]
    late = hub.subscribe("/k/n2", start)  # replayed from what the hub remembers
    assert late is not None and _keys(late.queue) == ["/k/n2"]
    one.close()
    other.close()
    other.close()  # closing twice is harmless
    assert set(hub.by_key) == {"/k/n1", "/k/n2"} and len(hub.by_key["/k/n1"]) == 1
    everything.close()
    assert not hub.by_prefix
    await store.close()
    await asyncio.sleep(0.05)
    assert hub.failed
    for sub in (same, late):
        assert isinstance(sub.queue.get_nowait(), StoreUnavailable)
    assert one.queue.empty() and everything.queue.empty()  # closed: not told


async def test_a_late_watch_replays_exactly_the_remembered_events_from_its_revision() -> None:
    store = await open_store("memory://")
    hub = Broadcaster(store, "/k/", keep=8)
    await hub.start()
    revisions = []
    for i in range(12):  # more than the hub keeps: the oldest four are forgotten
        revisions.append((await store.create(f"/k/{i:02d}", b"v")).mod_revision)
    await asyncio.sleep(0.05)
    assert hub.covered_from == revisions[4]
    assert hub.subscribe("/k/", revisions[3]) is None  # not all here: the store's own watch
    for start_at in (4, 7, 11):
        sub = hub.subscribe("/k/", revisions[start_at])
        assert sub is not None
        assert _keys(sub.queue) == [f"/k/{i:02d}" for i in range(start_at, 12)]
    head = hub.subscribe("/k/", revisions[-1] + 1)
    assert head is not None and head.queue.empty()
    await store.close()
