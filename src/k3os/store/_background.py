"""Background duties shared by the drivers that own their data: TTL expiry and
automatic compaction. Each runs as one named task that the store cancels on close."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from k3os.store._errors import Conflict, StoreClosed, StoreError
from k3os.store._model import StoreOptions

log = logging.getLogger(__name__)

#: Deletes `key` if its mod revision is still the given one (the write that set the TTL).
ExpireFn = Callable[[str, int], Awaitable[None]]


class ExpiryTimer:
    """Deletes keys whose TTL ran out, at their deadline (wall-clock seconds, so deadlines
    stored on disk survive a restart). Stale entries (the key was rewritten since) are
    harmless: the delete is a compare-and-swap on the revision that set the TTL."""

    def __init__(self, expire: ExpireFn, clock: Callable[[], float] = time.time) -> None:
        self._expire = expire
        self._clock = clock
        self._heap: list[tuple[float, int, str]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def schedule(self, key: str, mod_revision: int, deadline: float) -> None:
        if self._heap and deadline >= self._heap[0][0]:
            heapq.heappush(self._heap, (deadline, mod_revision, key))
            return
        heapq.heappush(self._heap, (deadline, mod_revision, key))
        self._wake.set()

    def start(self, name: str) -> None:
        self._task = asyncio.create_task(self._run(), name=name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if not self._heap:
                await self._wake.wait()
                continue
            delay = self._heap[0][0] - self._clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(delay, 3600.0))
                continue
            _, mod_revision, key = heapq.heappop(self._heap)
            try:
                await self._expire(key, mod_revision)
            except Conflict:
                pass  # rewritten or deleted since: its own TTL (if any) is scheduled
            except StoreClosed:
                return
            except StoreError:
                log.exception("could not expire key %r; retrying in 1 s", key)
                heapq.heappush(self._heap, (self._clock() + 1.0, mod_revision, key))


class AutoCompactor:
    """Every `interval` seconds, compacts the store to `current - retention`, but never
    past the revision that was the head `min_age` seconds ago (as far as this compactor
    saw it: it notes the head at every run), so a watcher that resumes from a revision
    it was given within `min_age` finds it still there whatever the write rate. Until
    it has seen `min_age` seconds of heads (after a start) it compacts nothing."""

    def __init__(
        self,
        current_revision: Callable[[], Awaitable[int]],
        compact: Callable[[int], Awaitable[None]],
        retention: int,
        interval: float,
        min_age: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._current_revision = current_revision
        self._compact = compact
        self._retention = retention
        self._interval = interval
        self._min_age = min_age
        self._clock = clock
        #: (time, head) noted at each run; the first is the newest at least min_age old.
        self._heads: deque[tuple[float, int]] = deque()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_options(
        cls,
        current_revision: Callable[[], Awaitable[int]],
        compact: Callable[[int], Awaitable[None]],
        options: StoreOptions,
    ) -> AutoCompactor:
        return cls(
            current_revision,
            compact,
            options.retention,
            options.compact_interval,
            options.retention_seconds,
        )

    def start(self, name: str) -> None:
        if self._retention > 0 and self._interval > 0:
            self._task = asyncio.create_task(self._run(), name=name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> None:
        head = await self._current_revision()
        target = head - self._retention
        if self._min_age > 0:
            target = min(target, self._aged_head(head))
        if target > 0:
            await self._compact(target)

    def _aged_head(self, head: int) -> int:
        """Note `head` now; return the newest noted head at least `min_age` old (0 if
        none is that old yet)."""
        now = self._clock()
        heads = self._heads
        heads.append((now, head))
        while len(heads) > 1 and now - heads[1][0] >= self._min_age:
            heads.popleft()
        noted_at, aged = heads[0]
        return aged if now - noted_at >= self._min_age else 0

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except StoreClosed:
                return
            except StoreError:
                log.exception("automatic compaction failed; retrying next interval")
