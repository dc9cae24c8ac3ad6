"""TTL expiry and automatic compaction loops, with fake collaborators."""

from __future__ import annotations

import asyncio
import logging

import pytest

from k3os.store import Conflict, StoreClosed, StoreUnavailable
from k3os.store._background import AutoCompactor, ExpiryTimer


async def test_expiry_retries_after_a_store_error(caplog: pytest.LogCaptureFixture) -> None:
    clock = [1000.0]
    calls: list[tuple[str, int]] = []
    done = asyncio.Event()

    async def expire(key: str, revision: int) -> None:
        calls.append((key, revision))
        if len(calls) == 1:
            raise StoreUnavailable("disk on fire")
        if key == "stale":
            raise Conflict(key, None)
        done.set()

    timer = ExpiryTimer(expire, clock=lambda: clock[0])
    timer.start("test-expiry")
    timer.schedule("a", 5, 999.0)  # already due
    await asyncio.sleep(0.01)
    assert calls == [("a", 5)]
    assert "could not expire key 'a'" in caplog.text
    clock[0] += 2  # the retry one second later is due now
    timer.schedule("stale", 6, 900.0)  # due, and its key was rewritten: ignored
    await asyncio.wait_for(done.wait(), 5)
    assert calls[1:] == [("stale", 6), ("a", 5)]
    await timer.close()
    await timer.close()


async def test_expiry_waits_for_the_earliest_deadline() -> None:
    clock = [0.0]
    expired: list[str] = []

    async def expire(key: str, revision: int) -> None:
        expired.append(key)

    timer = ExpiryTimer(expire, clock=lambda: clock[0])
    timer.start("test-expiry")
    timer.schedule("late", 1, 100.0)
    timer.schedule("later", 2, 200.0)  # not earlier: no wake-up needed
    await asyncio.sleep(0.01)
    assert expired == []
    clock[0] = 150.0
    timer.schedule("now", 3, 0.0)  # earlier than all: wakes the timer
    await asyncio.sleep(0.01)
    assert expired == ["now", "late"]
    await timer.close()


async def test_expiry_stops_when_the_store_closes() -> None:
    async def expire(key: str, revision: int) -> None:
        raise StoreClosed("closed")

    timer = ExpiryTimer(expire)
    timer.start("test-expiry")
    timer.schedule("a", 1, 0.0)
    await asyncio.sleep(0.01)
    assert timer._task is not None
    assert timer._task.done()
    await timer.close()


async def test_compactor_keeps_the_window(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    compacted: list[int] = []
    head = [5]

    async def current() -> int:
        return head[0]

    async def compact(revision: int) -> None:
        if revision == 13:
            raise StoreUnavailable("busy")
        if revision == 14:
            raise StoreClosed("closed")
        compacted.append(revision)

    compactor = AutoCompactor(current, compact, retention=10, interval=0.001)
    await compactor.run_once()  # nothing below the window yet
    assert compacted == []
    head[0] = 22
    await compactor.run_once()
    assert compacted == [12]
    head[0] = 23
    compactor.start("test-compactor")
    await asyncio.sleep(0.02)
    assert "automatic compaction failed" in caplog.text
    head[0] = 24
    await asyncio.sleep(0.02)
    assert compactor._task is not None
    assert compactor._task.done()  # stopped by StoreClosed
    await compactor.close()


async def test_compactor_never_compacts_what_was_written_within_min_age() -> None:
    """The revision window is capped by time: at a high write rate the compactor stops at
    the head it noted `min_age` seconds ago, not at `head - retention`."""
    compacted: list[int] = []
    head, now = [0], [0.0]

    async def current() -> int:
        return head[0]

    async def compact(revision: int) -> None:
        compacted.append(revision)

    compactor = AutoCompactor(
        current, compact, retention=100, interval=60.0, min_age=300.0, clock=lambda: now[0]
    )
    # 1,000 revisions a minute: the revision window alone would keep 6 seconds.
    for minute in range(5):
        now[0], head[0] = 60.0 * minute, 1000 * minute
        await compactor.run_once()
    assert compacted == []  # nothing is 300 s old yet
    now[0], head[0] = 330.0, 5500
    await compactor.run_once()
    assert compacted == []  # the head 300 s ago was revision 0: not 5,400 = head - retention
    now[0], head[0] = 420.0, 7000
    await compactor.run_once()
    assert compacted == [2000]  # the newest head noted at least 300 s before t=420
    # A slow writer: head - retention is the older bound, and wins.
    now[0], head[0] = 3000.0, 7050
    await compactor.run_once()
    assert compacted[-1] == 6950
    assert len(compactor._heads) <= 2


def test_compactor_off_when_retention_or_interval_is_zero() -> None:
    async def never() -> int:  # pragma: no cover - never called
        raise AssertionError

    async def compact(revision: int) -> None:  # pragma: no cover - never called
        raise AssertionError

    for retention, interval in [(0, 1.0), (10, 0.0)]:
        compactor = AutoCompactor(never, compact, retention, interval)
        compactor.start("off")
        assert compactor._task is None
