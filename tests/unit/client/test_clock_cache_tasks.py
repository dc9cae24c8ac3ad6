"""The fake clock, the informer cache with indices, and named tasks with shutdown."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from k3os.client import Cache, FakeClock, SystemClock, run_tasks
from k3os.client.clock import settle


async def test_fake_clock_wakes_sleepers_in_due_order() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(f"{name}@{clock.monotonic():g}")

    tasks = [asyncio.create_task(nap(n, s)) for n, s in (("b", 2), ("a", 1), ("c", 5))]
    await settle()
    assert clock.sleepers == 3
    await clock.advance(3)
    assert woke == ["a@1", "b@2"]
    assert clock.monotonic() == 3
    assert clock.now() == dt.datetime(2026, 1, 1, 0, 0, 3, tzinfo=dt.UTC)
    await clock.advance(10)
    assert woke[-1] == "c@5"
    await asyncio.gather(*tasks)
    await clock.sleep(0)  # no wait at all


async def test_system_clock() -> None:
    clock = SystemClock()
    before = clock.monotonic()
    await clock.sleep(0)
    await clock.sleep(-1)
    assert clock.monotonic() >= before
    assert clock.now().tzinfo is dt.UTC


def obj(name: str, ns: str = "", rv: str = "1", **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv, "labels": labels}}


def test_cache_keys_objects_and_indices() -> None:
    cache = Cache()
    cache.upsert(obj("a", "ns1", app="web"))
    cache.add_index("app", lambda o: [o["metadata"]["labels"].get("app", "")])
    cache.upsert(obj("b", "ns1", app="web"))
    cache.upsert(obj("c", "ns2", app="db"))
    cache.upsert(obj("n"))
    assert len(cache) == 4 and ("ns1", "a") in cache
    assert cache.get("a", "ns1") is not None and cache.get("a") is None
    assert sorted(cache.list_keys()) == [("", "n"), ("ns1", "a"), ("ns1", "b"), ("ns2", "c")]
    assert [o["metadata"]["name"] for o in cache.objects("ns1")] == ["a", "b"]
    assert len(cache.objects()) == 4 and len(list(cache)) == 4
    assert [o["metadata"]["name"] for o in cache.by_index("app", "web")] == ["a", "b"]
    old = cache.upsert(obj("b", "ns1", rv="2", app="db"))
    assert old is not None and old["metadata"]["resourceVersion"] == "1"
    assert [o["metadata"]["name"] for o in cache.by_index("app", "web")] == ["a"]
    assert [o["metadata"]["name"] for o in cache.by_index("app", "db")] == ["b", "c"]
    assert cache.remove(("ns1", "a")) is not None
    assert cache.remove(("ns1", "a")) is None
    assert cache.by_index("app", "web") == []


def test_cache_tracks_the_keys_changed_for_each_reader() -> None:
    cache = Cache()
    cache.upsert(obj("a", "ns1"))
    first = cache.track()
    assert first == set()
    cache.upsert(obj("b", "ns1"))
    second = cache.track()
    cache.upsert(obj("a", "ns1", rv="2"))
    assert cache.remove(("ns1", "b")) is not None
    assert cache.remove(("ns1", "gone")) is None  # nothing removed: nothing changed
    assert first == {("ns1", "a"), ("ns1", "b")}
    assert second == {("ns1", "a"), ("ns1", "b")}
    first.clear()  # each reader empties its own set
    cache.upsert(obj("c"))
    cache.untrack(second)
    cache.upsert(obj("d"))
    assert first == {("", "c"), ("", "d")}
    assert second == {("ns1", "a"), ("ns1", "b"), ("", "c")}


async def test_run_tasks_names_tasks_and_stops_them_on_the_event() -> None:
    stop = asyncio.Event()
    seen: list[str] = []
    cleaned: list[str] = []

    async def forever() -> None:
        task = asyncio.current_task()
        assert task is not None
        seen.append(task.get_name())
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append(task.get_name())

    runner = asyncio.create_task(run_tasks({"one": forever(), "two": forever()}, stop=stop))
    await settle()
    assert sorted(seen) == ["one", "two"]
    stop.set()
    await runner
    assert sorted(cleaned) == ["one", "two"]


async def test_run_tasks_returns_when_all_finish_and_without_a_stop_event() -> None:
    async def quick() -> None:
        await asyncio.sleep(0)

    await run_tasks({"a": quick(), "b": quick()}, stop=asyncio.Event())
    await run_tasks({"a": quick()})


async def test_run_tasks_failure_cancels_the_rest() -> None:
    cancelled = asyncio.Event()

    async def boom() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    async def waits() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(ExceptionGroup) as info:
        await run_tasks({"boom": boom(), "waits": waits()}, stop=asyncio.Event())
    assert info.group_contains(RuntimeError, match="boom")
    assert cancelled.is_set()


async def test_run_tasks_cancelled_from_outside_cancels_children() -> None:
    cleaned = asyncio.Event()

    async def waits() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    runner = asyncio.create_task(run_tasks({"w": waits()}, stop=asyncio.Event()))
    await settle()
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert cleaned.is_set()
