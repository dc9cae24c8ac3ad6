"""One store watch per resource, fanned out to every API watch of it (a watch cache).

With many watchers of one resource, a store watch each would make every change travel
through the store once per watcher. A `Broadcaster` holds a single store watch of the
resource's prefix from the moment it is first asked for, remembers the last `keep`
events, and hands each subscriber a queue that starts at the revision it asks for (replayed
from memory). A subscriber whose start it cannot cover (older than what it remembers)
gets None and watches the store directly.

Subscribers are indexed: a watch of one object (its key, as `reads.selected_prefix` gives for
a single-name field selector: an agent watching its own Node) is offered only that key's
events, by one dict lookup, so an event costs O(1) for the thousand agents that each watch
one Node rather than a filter call per agent. Subscribers of a prefix (the kind, or a
namespace) are offered every event and filter by prefix as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from k3os.store import Event, Store, StoreError, StoreUnavailable, Watch

__all__ = ["BACKLOG", "Broadcaster", "Subscription"]

BACKLOG = 50_000  # events a reader may fall behind by before its watch is ended

log = logging.getLogger(__name__)

Item = Event | BaseException | None


def is_object_key(key_prefix: str) -> bool:
    """Whether a subscription names one object's key (prefixes end with "/", keys never
    do: a name holds no "/")."""
    return not key_prefix.endswith("/")


class Subscription:
    """A subscriber's queue of events under `key_prefix` (or of that one key, when it is an
    object's key), from `start` on."""

    def __init__(self, hub: Broadcaster, key_prefix: str, start: int) -> None:
        self.hub = hub
        self.key_prefix = key_prefix
        self.exact = is_object_key(key_prefix)
        self.start = start
        self.queue: asyncio.Queue[Item] = asyncio.Queue()

    def matches(self, key: str) -> bool:
        return key == self.key_prefix if self.exact else key.startswith(self.key_prefix)

    def offer(self, event: Event) -> None:
        if event.revision >= self.start and self.matches(event.kv.key):
            if self.queue.qsize() >= BACKLOG:  # too slow a reader: it re-watches from its RV
                self.queue.put_nowait(StoreUnavailable("watcher fell behind"))
                self.close()
                return
            self.queue.put_nowait(event)

    def close(self) -> None:
        self.hub.remove(self)


class Broadcaster:
    def __init__(self, store: Store, prefix: str, keep: int = 2048) -> None:
        self.store = store
        self.prefix = prefix
        self.recent: deque[Event] = deque(maxlen=keep)
        self.by_key: dict[str, set[Subscription]] = {}  # watches of one object, by its key
        self.by_prefix: set[Subscription] = set()  # watches of a prefix
        self.covered_from = 0  # every event at or after this revision is seen here
        self.failed = False
        self._watch: Watch | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        head = await self.store.current_revision()
        self._watch = await self.store.watch(self.prefix, start_revision=head + 1)
        self.covered_from = head + 1
        self._task = asyncio.create_task(self._run(), name=f"broadcast {self.prefix}")

    async def _run(self) -> None:
        assert self._watch is not None
        error: StoreError = StoreUnavailable("the shared watch ended")
        try:
            async with self._watch:
                async for event in self._watch:
                    if len(self.recent) == self.recent.maxlen:
                        self.covered_from = self.recent[0].revision + 1
                    self.recent.append(event)
                    for sub in tuple(self.by_prefix):
                        sub.offer(event)
                    for sub in tuple(self.by_key.get(event.kv.key, ())):
                        sub.offer(event)
        except StoreError as e:
            error = e
        finally:  # subscribers end (and re-watch); the next subscribe starts a new hub
            self.failed = True
            for sub in self.subscribers():
                sub.queue.put_nowait(error)

    def subscribers(self) -> list[Subscription]:
        return [*self.by_prefix, *(s for subs in self.by_key.values() for s in subs)]

    def remove(self, sub: Subscription) -> None:
        if not sub.exact:
            self.by_prefix.discard(sub)
            return
        subs = self.by_key.get(sub.key_prefix)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.by_key[sub.key_prefix]

    def subscribe(self, key_prefix: str, start: int) -> Subscription | None:
        """A queue of the events from revision `start`, or None if they are not all here."""
        if self.failed or start < self.covered_from:
            return None
        sub = Subscription(self, key_prefix, start)
        # Only the remembered events from `start` on, found from the newest end (the deque
        # is in revision order): a watch usually starts near the head, so this walks a few
        # events, where a search by index and a slice of a deque walk all `keep`.
        newer: list[Event] = []
        for event in reversed(self.recent):
            if event.kv.mod_revision < start:
                break
            newer.append(event)
        for event in reversed(newer):
            sub.offer(event)
        if sub.exact:
            self.by_key.setdefault(key_prefix, set()).add(sub)
        else:
            self.by_prefix.add(sub)
        return sub
