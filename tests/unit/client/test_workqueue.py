"""The work queue: deduplication, no concurrent processing of a key, delays, rate limiting
and shutdown, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from k3os.client import Backoff, FakeClock, QueueShutDown, WorkQueue
from k3os.client.clock import settle


def make(clock: FakeClock | None = None) -> WorkQueue[str]:
    return WorkQueue(clock=clock or FakeClock(), backoff=Backoff(initial=1.0, maximum=8.0))


async def test_a_key_is_queued_once_however_often_added() -> None:
    q = make()
    for key in ["a", "b", "a", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_a_key_added_while_processing_comes_back_after_done() -> None:
    q = make()
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0  # not handed to a second worker meanwhile
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_get_waits_for_an_add() -> None:
    q = make()
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("x")
    assert await getter == "x"


async def test_add_after_waits_for_the_clock_and_the_earliest_delay_wins() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add_after("late", 10)
    q.add_after("k", 5)
    q.add_after("k", 2)
    q.add_after("k", 7)  # later than the pending 2 s: ignored
    assert q.delayed == 2
    getter = asyncio.create_task(q.get())
    await clock.advance(1.9)
    assert not getter.done()
    await clock.advance(0.1)
    assert await getter == "k"
    q.done("k")
    getter = asyncio.create_task(q.get())
    await clock.advance(5)
    assert not getter.done()
    await clock.advance(3)
    assert await getter == "late"
    assert q.delayed == 0


async def test_add_after_zero_is_an_add() -> None:
    q = make()
    q.add_after("now", 0)
    assert len(q) == 1


async def test_rate_limited_adds_back_off_per_key_until_forgotten() -> None:
    clock = FakeClock()
    q = make(clock)
    delays = []
    for _ in range(5):
        start = clock.monotonic()
        q.add_rate_limited("k")
        getter = asyncio.create_task(q.get())
        while not getter.done():
            await clock.advance(0.5)
        delays.append(clock.monotonic() - start)
        q.done(await getter)
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert q.requeues("k") == 5
    q.forget("k")
    assert q.requeues("k") == 0


async def test_shutdown_wakes_getters_and_refuses_new_work() -> None:
    q = make()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.shut_down()
    for g in getters:
        with pytest.raises(QueueShutDown):
            await g
    assert q.shutting_down
    q.add("x")
    q.add_after("y", 1)
    assert len(q) == 0 and q.delayed == 0
    with pytest.raises(QueueShutDown):
        await q.get()


async def test_done_after_shutdown_does_not_requeue() -> None:
    q = make()
    q.add("a")
    await q.get()
    q.add("a")
    q.shut_down()
    q.done("a")
    assert len(q) == 0


async def test_system_clock_default() -> None:
    q: WorkQueue[str] = WorkQueue(backoff=Backoff(initial=0.01, maximum=0.01))
    q.add_after("soon", 0.01)
    assert await asyncio.wait_for(q.get(), 5) == "soon"
