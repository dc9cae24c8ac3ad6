"""Time as a collaborator: the system clock, and a fake one tests move by hand.

Everything in the client layer that waits or measures age takes a `Clock`, so timing
logic (backoff, delayed requeues, lease expiry) is tested exactly and instantly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals and deadlines)."""

    def now(self) -> dt.datetime:
        """Wall-clock time, timezone-aware UTC (for timestamps written to objects)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock."""


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when `advance` is called; sleepers wake in due order."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._t = 0.0
        self._start = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._t

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=self._t)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._t + seconds, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending (tests wait for a task to reach its sleep)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking due sleepers in order and letting them run."""
        target = self._t + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            due, _, fut = heapq.heappop(self._sleepers)
            self._t = max(self._t, due)
            if not fut.done():
                fut.set_result(None)
                await settle()
        self._t = target
        await settle()


async def settle(rounds: int = 20) -> None:
    """Let ready callbacks and tasks run (a few event-loop turns)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
