"""In-process watch fan-out for drivers that own their data (memory, SQLite).

The writer publishes every committed event once, in revision order. Recent events stay
in a ring; each watcher keeps only its own next revision, so a slow watcher never holds
anyone up and is never dropped: when it falls behind the ring it catches up from the
driver's history, and only when compaction has removed what it still needs does its
iteration raise `Compacted`. Nothing polls: watchers sleep until a publish touches a key
under their prefix (watchers are grouped by prefix, so a write wakes only the groups whose
prefix its key starts with: a fleet's Lease renewals do not wake every Node watcher).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from k3os.store._errors import Compacted, StoreClosed
from k3os.store._interface import Watch
from k3os.store._model import Event

#: (prefix, first revision, last revision, limit) -> matching events in that range, in order.
HistoryReader = Callable[[str, int, int, int], Awaitable[list[Event]]]

_BATCH = 1024


class WatchHub:
    """Fan-out of committed events to any number of watchers."""

    def __init__(self, history: HistoryReader | None, capacity: int | None = 8192) -> None:
        self._history = history
        self._capacity = capacity
        self._ring: list[Event] = []
        self._ring_first = 1  # revision of _ring[0] (when non-empty)
        self.head = 0
        self.compact_revision = 0
        self._groups: dict[str, _Group] = {}  # watchers by prefix
        self._watchers: set[HubWatch] = set()
        self.closed = False

    def reset(self, head: int, compact_revision: int) -> None:
        """Start from an existing store: nothing in the ring, history from the driver."""
        self.head = head
        self.compact_revision = compact_revision
        self._ring.clear()
        self._ring_first = head + 1

    def publish(self, events: Sequence[Event]) -> None:
        """Append committed events (contiguous revisions following `head`) and wake."""
        if not events:
            return
        if not self._ring:
            self._ring_first = events[0].revision
        self._ring.extend(events)
        self.head = events[-1].revision
        if self._capacity is not None and len(self._ring) > 2 * self._capacity:
            drop = len(self._ring) - self._capacity
            del self._ring[:drop]
            self._ring_first += drop
        groups = self._groups
        for event in events:
            key = event.kv.key
            if len(groups) <= len(key) + 1:
                for prefix in [p for p in groups if key.startswith(p)]:
                    groups[prefix].wake(event.revision)
            else:  # many groups: look up each prefix of the key instead
                for i in range(len(key) + 1):
                    group = groups.get(key[:i])
                    if group is not None:
                        group.wake(event.revision)

    def events_from(self, revision: int) -> list[Event]:
        """The remembered events from `revision` on (fewer if the ring starts later)."""
        return self._ring[max(0, revision - self._ring_first) :]

    def set_compact_revision(self, revision: int) -> None:
        self.compact_revision = max(self.compact_revision, revision)
        if self._capacity is None and self._ring:
            # The ring is the only history (memory driver): drop what is compacted.
            drop = max(0, min(len(self._ring), self.compact_revision - self._ring_first + 1))
            del self._ring[:drop]
            self._ring_first += drop
        self._wake()

    def open(self, prefix: str, start_revision: int) -> HubWatch:
        watch = HubWatch(self, prefix, start_revision)
        self._watchers.add(watch)
        group = self._groups.get(prefix)
        if group is None:
            group = self._groups[prefix] = _Group(self.head)
        group.watchers += 1
        return watch

    def changed(self, prefix: str) -> asyncio.Event:
        """Set at the next publish under `prefix` (or compaction, close, a watcher leaving)."""
        return self._groups[prefix].event

    def close(self) -> None:
        self.closed = True
        self._wake()

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    def _wake(self) -> None:
        for group in self._groups.values():
            group.wake()

    def _discard(self, watch: HubWatch) -> None:
        if watch in self._watchers:
            self._watchers.discard(watch)
            group = self._groups[watch._prefix]
            group.watchers -= 1
            if group.watchers == 0:
                del self._groups[watch._prefix]
            group.wake()  # a closed watcher waiting in __anext__ sees that it is closed

    async def _fetch(self, prefix: str, start: int) -> tuple[list[Event], int]:
        """Events matching `prefix` from `start` on (a bounded batch), and the revision to
        continue from."""
        head = self.head
        if start >= self._ring_first and self._ring:
            index = start - self._ring_first
            chunk = self._ring[index : index + _BATCH]
            found = [e for e in chunk if e.kv.key.startswith(prefix)]
            return found, start + len(chunk)
        if self._history is None:  # pragma: no cover - memory keeps all history in the ring
            raise Compacted(start, self.compact_revision)
        last = min(head, self._ring_first - 1)
        found = await self._history(prefix, start, last, _BATCH)
        if len(found) == _BATCH:
            return found, found[-1].revision + 1
        return found, last + 1


class _Group:
    """The watchers of one prefix share an event, replaced each time it is set. `last` is
    the newest revision published under the prefix since the group was created at `created`:
    a watcher past both has nothing to read up to the head and skips there without a scan
    (so a quiet watcher neither rescans the ring nor is cut off by compaction)."""

    __slots__ = ("created", "event", "last", "watchers")

    def __init__(self, created: int) -> None:
        self.event = asyncio.Event()
        self.watchers = 0
        self.created = created
        self.last = 0

    def wake(self, revision: int = 0) -> None:
        self.last = max(self.last, revision)
        event, self.event = self.event, asyncio.Event()
        event.set()


class HubWatch(Watch):
    def __init__(self, hub: WatchHub, prefix: str, start_revision: int) -> None:
        self._hub = hub
        self._prefix = prefix
        self._next = start_revision
        self._buffer: deque[Event] = deque()
        self._closed = False

    async def __anext__(self) -> Event:
        hub = self._hub
        while not self._buffer:
            if self._closed or hub.closed:
                raise StoreClosed("the watch was closed")
            group = hub._groups.get(self._prefix)
            if group is not None and self._next > group.created and self._next > group.last:
                self._next = max(self._next, hub.head + 1)  # nothing under the prefix since
            if self._next <= hub.compact_revision:
                raise Compacted(self._next, hub.compact_revision)
            if self._next > hub.head:
                await hub.changed(self._prefix).wait()
                continue
            found, self._next = await hub._fetch(self._prefix, self._next)
            self._buffer.extend(found)
        return self._buffer.popleft()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._buffer.clear()
            self._hub._discard(self)
