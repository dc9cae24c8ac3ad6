"""What every handler is given: the store, the resource registry, schemas, clock, auth."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from k3os.apiserver.auth import MastersAuthorizer
from k3os.apiserver.broadcast import Broadcaster, Subscription
from k3os.apiserver.objects import Clock, utc_now
from k3os.apiserver.registry import EVENT_TTL, Registry, ResourceType
from k3os.apiserver.schemas import normalized
from k3os.apiserver.storage import ObjectStore
from k3os.security.authn import PUBLIC_PATHS, Authenticator
from k3os.security.authz import Authorizer
from k3os.store import FutureRevision, Store, StoreError

__all__ = ["ApiContext", "Settings", "Stopping"]


@dataclass(frozen=True)
class Settings:
    bookmark_interval: float = 60.0  # seconds between watch bookmarks
    max_watch_timeout: float = 1800.0  # a watch without timeoutSeconds ends within this
    git_version: str = "v1.36.0-k3os"
    # Seconds an Event lives after its last write (`k3os server --event-ttl`; upstream's
    # kube-apiserver --event-ttl): the store deletes it then.
    event_ttl: int = EVENT_TTL


FRESH_WAIT = 3.0
"""Seconds a watch from a revision the store's head has not reached waits for it (the
kube-apiserver's wait for its watch cache), before it ends with "too large resource
version"."""


class Stopping(asyncio.Event):
    """Set when the server stops; besides waiters it calls back what `when_set` hooked.

    Each open watch ends when the server stops. A task per watch waiting on the Event
    cost a Task and a future per watch, and when the watch ended first, a cancellation
    whose exception and frames only the cyclic garbage collector could free: with a
    fleet whose agents reconnect after each reboot, that garbage was a share of the
    server's CPU. A callback in a set costs neither."""

    def __init__(self) -> None:
        super().__init__()
        self._hooks: set[Callable[[], None]] = set()

    def set(self) -> None:
        if self.is_set():
            return
        super().set()
        hooks, self._hooks = self._hooks, set()
        for hook in hooks:
            hook()

    def when_set(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Call `hook` once, when the Event is set (at once if it is); the answer unhooks."""
        if self.is_set():
            hook()
            return _nothing
        self._hooks.add(hook)
        return lambda: self._hooks.discard(hook)


def _nothing() -> None:
    return None


@dataclass
class ApiContext:
    store: Store
    registry: Registry = field(default_factory=Registry)
    authenticator: Authenticator | None = None  # None: no authentication (in-process tests)
    clock: Clock = utc_now
    authorizer: Authorizer = field(default_factory=MastersAuthorizer)
    settings: Settings = field(default_factory=Settings)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: Stopping = field(default_factory=Stopping)  # watches end when set
    open_paths: frozenset[str] = PUBLIC_PATHS  # served without credentials (security_runtime)

    def __post_init__(self) -> None:
        self.objects = ObjectStore(self.store, event_ttl=self.settings.event_ttl)
        self._hubs: dict[str, Broadcaster] = {}
        self._hub_lock = asyncio.Lock()
        self._definitions: tuple[int, dict[str, Any]] | None = None

    async def subscribe(self, rt: ResourceType, key_prefix: str, start: int) -> Subscription | None:
        """Events under `key_prefix` from revision `start`, from the resource's shared
        store watch; None when it cannot cover that start (the caller watches the store)."""
        head = await self.store.current_revision()
        if start > head + 1:
            head = await self._caught_up(start - 1, head)
            if start > head + 1:
                raise FutureRevision(start - 1, head)
        prefix = rt.prefix("")
        if 1 < start <= head:
            # The shared watch may still remember events the store has compacted away; a
            # watch from there is as gone as the store says (410), as a list would be.
            # A read at `start - 1` raises Compacted exactly when a store watch would.
            await self.store.get(prefix, revision=start - 1)
        hub = self._hubs.get(prefix)
        if hub is None or hub.failed:
            async with self._hub_lock:
                hub = self._hubs.get(prefix)
                if hub is None or hub.failed:
                    hub = Broadcaster(self.store, prefix)
                    try:
                        await hub.start()
                    except StoreError:
                        return None
                    self._hubs[prefix] = hub
        return hub.subscribe(key_prefix, start)

    async def _caught_up(self, revision: int, head: int) -> int:
        """The store's head once it has reached `revision`, or after `FRESH_WAIT` seconds.

        A list reads the store's committed state, and SQLite's writer commits before this
        process's watches are told: a watch from the revision a list just answered may
        find the head one write behind for a moment. That is a revision the store has, not
        one from the future, so the watch waits for it, as kube-apiserver waits for its
        watch cache before it answers "too large resource version"."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FRESH_WAIT
        pause = 0.005  # doubling to 0.1 s: an API worker asks the main process each time
        while head < revision and loop.time() < deadline:
            await asyncio.sleep(pause)
            pause = min(2 * pause, 0.1)
            head = await self.store.current_revision()
        return head

    @property
    def definitions(self) -> dict[str, Any]:
        """The built-in types' schemas, kept until the registry changes (every write asks,
        and gathering the roots anew walked and sorted the whole registry each time)."""
        kept = self._definitions
        if kept is None or kept[0] != self.registry.revision:
            roots = tuple(sorted(rt.definition for rt in self.registry if rt.custom is None))
            kept = self._definitions = (self.registry.revision, normalized(roots))
        return kept[1]
