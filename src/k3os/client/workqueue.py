"""A work queue of keys for controllers, with the semantics of client-go's:

- a key is queued at most once however often it is added (deduplication);
- a key being processed is not handed to a second worker; adding it meanwhile queues it
  again once `done` is called, so no change is lost;
- `add_after` delays a key (the earliest of several delays wins);
- `add_rate_limited` delays by the key's own exponential backoff, which `forget` resets.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from k3os.client.backoff import Backoff, KeyedBackoff
from k3os.client.clock import Clock, SystemClock

__all__ = ["QueueShutDown", "WorkQueue"]

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """The queue was shut down: workers should return."""


class WorkQueue(Generic[K]):
    def __init__(
        self, *, clock: Clock | None = None, backoff: Backoff | None = None, name: str = ""
    ) -> None:
        self.name = name
        self._clock: Clock = clock or SystemClock()
        self._limiter = KeyedBackoff(backoff or Backoff(initial=0.05, maximum=60.0))
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._delayed: list[tuple[float, int, K]] = []
        self._delayed_due: dict[K, float] = {}
        self._seq = itertools.count()
        self._waiters: list[asyncio.Future[None]] = []
        self._shut_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def delayed(self) -> int:
        return len(self._delayed_due)

    @property
    def shutting_down(self) -> bool:
        return self._shut_down

    def add(self, key: K) -> None:
        if self._shut_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._wake()

    def add_after(self, key: K, delay: float) -> None:
        if self._shut_down:
            return
        if delay <= 0:
            self.add(key)
            return
        due = self._clock.monotonic() + delay
        if self._delayed_due.get(key, float("inf")) <= due:
            return
        self._delayed_due[key] = due
        heapq.heappush(self._delayed, (due, next(self._seq), key))
        self._wake()

    def add_rate_limited(self, key: K) -> None:
        self.add_after(key, self._limiter.next_delay(key))

    def forget(self, key: K) -> None:
        """The key succeeded: its next failure starts the backoff over."""
        self._limiter.forget(key)

    def requeues(self, key: K) -> int:
        return self._limiter.failures(key)

    async def get(self) -> K:
        """The next key to process; call `done(key)` when finished with it."""
        loop = asyncio.get_running_loop()
        while True:
            self._promote_due()
            if self._shut_down:
                raise QueueShutDown(self.name)
            if self._queue:
                key = self._queue.popleft()
                self._dirty.discard(key)
                self._processing.add(key)
                return key
            wake: asyncio.Future[None] = loop.create_future()
            self._waiters.append(wake)
            pending: set[asyncio.Future[None]] = {wake}
            timer: asyncio.Future[None] | None = None
            if self._delayed:
                wait = self._delayed[0][0] - self._clock.monotonic()
                timer = asyncio.ensure_future(self._clock.sleep(wait))
                pending.add(timer)
            try:
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if timer is not None:
                    timer.cancel()
                if wake in self._waiters:
                    self._waiters.remove(wake)

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty and not self._shut_down:
            self._queue.append(key)
            self._wake()

    def shut_down(self) -> None:
        """Stop handing out keys; blocked and later `get` calls raise QueueShutDown."""
        self._shut_down = True
        self._wake()

    def _promote_due(self) -> None:
        now = self._clock.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            due, _, key = heapq.heappop(self._delayed)
            if self._delayed_due.get(key) == due:
                del self._delayed_due[key]
                self.add(key)

    def _wake(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
