"""The watch hub wakes only the watchers whose prefix a write's key starts with."""

from __future__ import annotations

import asyncio

import pytest

from k3os.store._errors import StoreClosed
from k3os.store._model import Event, EventType, KeyValue
from k3os.store._watch import WatchHub


def put(key: str, revision: int) -> Event:
    return Event(EventType.PUT, KeyValue(key, b"v", revision, revision, 1), None)


async def next_key(watch: object) -> str:
    event = await asyncio.wait_for(anext(watch), 2)  # type: ignore[call-overload]
    return str(event.kv.key)


async def test_a_write_under_another_prefix_wakes_nobody() -> None:
    hub = WatchHub(None, capacity=None)
    watch = hub.open("/leases/", 1)
    waiting = hub.changed("/leases/")
    hub.publish([put("/nodes/a", 1), put("/nodes/b", 2)])
    assert not waiting.is_set()
    hub.publish([put("/leases/a", 3)])
    assert waiting.is_set()
    assert await next_key(watch) == "/leases/a"
    await watch.aclose()


async def test_many_prefixes_are_matched_by_the_prefixes_of_the_key() -> None:
    hub = WatchHub(None, capacity=None)
    watches = {i: hub.open(f"/nodes/n{i}", 1) for i in range(40)}
    everything = hub.open("", 1)
    events = {i: hub.changed(f"/nodes/n{i}") for i in watches}
    hub.publish([put("/nodes/n10", 1)])
    woken = {i for i, event in events.items() if event.is_set()}
    assert woken == {1, 10}  # "/nodes/n1" is a prefix of "/nodes/n10" too
    assert await next_key(watches[10]) == "/nodes/n10"
    assert await next_key(watches[1]) == "/nodes/n10"
    assert await next_key(everything) == "/nodes/n10"
    for watch in [*watches.values(), everything]:
        await watch.aclose()
    assert hub.watcher_count == 0


async def test_a_quiet_watcher_is_not_cut_off_by_compaction() -> None:
    hub = WatchHub(None, capacity=None)
    watch = hub.open("/rendered/", 1)
    waiting = asyncio.ensure_future(next_key(watch))  # as the API server's pump does
    await asyncio.sleep(0)
    hub.publish([put(f"/leases/{i}", i) for i in range(1, 21)])
    hub.set_compact_revision(15)
    await asyncio.sleep(0)
    hub.publish([put("/rendered/a", 21)])
    assert await waiting == "/rendered/a"
    await watch.aclose()


async def test_a_watcher_opened_before_the_head_reads_from_its_start() -> None:
    hub = WatchHub(None, capacity=None)
    hub.publish([put("/a/1", 1), put("/b/1", 2)])
    watch = hub.open("/a/", 1)  # the group is new: revision 1 was never tracked by it
    assert await next_key(watch) == "/a/1"
    await watch.aclose()


async def test_closing_a_waiting_watcher_ends_its_iteration() -> None:
    hub = WatchHub(None, capacity=None)
    watch, other = hub.open("/a/", 1), hub.open("/a/", 1)
    waiting = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0)
    await watch.aclose()
    with pytest.raises(StoreClosed):
        await asyncio.wait_for(waiting, 2)
    hub.publish([put("/a/1", 1)])
    assert await next_key(other) == "/a/1"
    await other.aclose()
