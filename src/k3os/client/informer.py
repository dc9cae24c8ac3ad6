"""Informers: keep a cache of one collection in step with the API and tell handlers of
every change.

The loop lists, then watches from the list's resourceVersion with bookmarks on. When the
stream ends (server timeout) or the connection drops, it watches again from the last
resourceVersion seen, after a backoff if the attempt failed, so a server restart neither
repeats nor loses events. A 410 Gone (the version was compacted) makes it list again and
diff the fresh list against the cache: handlers see what changed in between, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Literal

from k3os.client.backoff import Backoff
from k3os.client.cache import Cache
from k3os.client.clock import Clock, SystemClock
from k3os.client.errors import ApiStatusError, GoneError, TransportError
from k3os.client.kube import Kube, WatchEvent
from k3os.client.resources import ResourceType, object_key

__all__ = ["ChangeType", "Handler", "Informer", "InformerSet"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
# handler(change, obj, old): obj is the new object (for DELETED the last one known).
Handler = Callable[[ChangeType, Obj, Obj | None], None]


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _initial_events_end(event: WatchEvent) -> bool:
    if event.type != "BOOKMARK":
        return False
    annotations = (event.object.get("metadata") or {}).get("annotations") or {}
    return annotations.get("k8s.io/initial-events-end") == "true"


class Informer:
    def __init__(
        self,
        kube: Kube,
        rt: ResourceType,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        watch_timeout: int = 300,
        metadata_only: bool = False,
        stream_list: bool = False,
    ) -> None:
        self.kube = kube
        self.metadata_only = metadata_only
        self.stream_list = stream_list
        """List by a watch that starts with the current objects (`sendInitialEvents`): one
        request where a list and a watch are two. A server that refuses it gets lists."""
        self.rt = rt
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.clock: Clock = clock or SystemClock()
        self.backoff = backoff or Backoff(initial=0.2, maximum=10.0, jitter=0.2)
        self.watch_timeout = watch_timeout
        self.cache = Cache()
        self.synced = asyncio.Event()
        self.resource_version = ""
        self.lists = 0  # how many times it listed (1 + relists), for tests and metrics
        self._handlers: list[Handler] = []

    @property
    def name(self) -> str:
        return f"informer:{self.rt}" + (f"/{self.namespace}" if self.namespace else "")

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def wait_synced(self) -> None:
        await self.synced.wait()

    async def run(self) -> None:
        """List and watch until cancelled. Run again after a stop, it resumes watching from
        where it was (and lists again only if that version is gone)."""
        failures = 0
        must_list = not self.resource_version
        while True:
            # Keys of a streamed list's objects, until its initial-events-end bookmark.
            fresh: set[tuple[str, str]] | None = None
            streaming = must_list and self.stream_list
            try:
                if must_list and not streaming:
                    await self._list()
                must_list = False
                started, events = self.clock.monotonic(), 0
                fresh = set() if streaming else None
                async for event in self.kube.watch(
                    self.rt,
                    self.namespace,
                    resource_version="" if streaming else self.resource_version,
                    timeout_seconds=self.watch_timeout,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                    metadata_only=self.metadata_only,
                    send_initial_events=streaming,
                ):
                    failures, events = 0, events + 1
                    if fresh is None:
                        self._apply(event)
                    elif _initial_events_end(event):
                        self._drop_missing(fresh)
                        self._listed(event.resource_version)
                        fresh = None
                    elif event.type != "BOOKMARK":
                        fresh.add(object_key(event.object))
                        self._store(event.object)
                if fresh is not None:
                    must_list = True  # ended before its initial events did: stream again
                if events == 0 and self.clock.monotonic() - started < 1.0:
                    # An empty stream that ended at once (a server on its way down): no
                    # error, but no reason to hammer it either.
                    failures += 1
                    await self.clock.sleep(self.backoff.delay(failures))
                else:
                    failures = 0
            except GoneError:
                log.info("%s: version %s is gone, listing again", self.name, self.resource_version)
                must_list = True
            except (TransportError, ApiStatusError) as e:
                if streaming and isinstance(e, ApiStatusError) and e.code in (400, 422):
                    log.info("%s: the server does not stream lists (%s); listing", self.name, e)
                    self.stream_list = False
                    must_list = True
                    continue
                must_list = must_list or fresh is not None  # a streamed list cut short
                failures += 1
                delay = self.backoff.delay(failures)
                log.debug("%s: %s; retrying in %.2fs", self.name, e, delay)
                await self.clock.sleep(delay)

    async def _list(self) -> None:
        listing = await self.kube.list(
            self.rt,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            metadata_only=self.metadata_only,
        )
        self._drop_missing({object_key(o) for o in listing.items})
        for obj in listing.items:
            self._store(obj)
        self._listed(listing.resource_version)

    def _drop_missing(self, fresh: set[tuple[str, str]]) -> None:
        """After a list (or a streamed one): what the cache has beyond it is gone."""
        for key in self.cache.list_keys():
            if key not in fresh:
                old = self.cache.remove(key)
                assert old is not None
                self._notify("DELETED", old, old)

    def _listed(self, resource_version: str) -> None:
        self.lists += 1
        self.resource_version = resource_version
        self.synced.set()

    def _apply(self, event: WatchEvent) -> None:
        rv = event.resource_version
        if event.type == "BOOKMARK":
            self.resource_version = rv or self.resource_version
            return
        obj = event.object
        if event.type == "DELETED":
            old = self.cache.remove(object_key(obj))
            if old is not None:
                self._notify("DELETED", obj, old)
        else:
            self._store(obj)
        if rv:
            self.resource_version = rv

    def seed(self, objects: list[Obj], resource_version: str) -> bool:
        """Before `run`: take `objects` as the state at `resource_version` (read or written
        by the caller just now), so `run` watches from there instead of listing. Handlers
        are not called for them. False (nothing done) once the informer has state; a version
        the server no longer has makes `run` list as usual."""
        if self.resource_version or len(self.cache) or not resource_version:
            return False
        for obj in objects:
            self.cache.upsert(obj)
        self.resource_version = resource_version
        self.synced.set()
        return True

    def _store(self, obj: Obj) -> None:
        namespace, name = object_key(obj)
        old = self.cache.get(name, namespace)
        if old is not None and _rv(old) == _rv(obj):
            return  # seen already (a relist of an unchanged object)
        self.cache.upsert(obj)
        self._notify("ADDED" if old is None else "MODIFIED", obj, old)

    def _notify(self, change: ChangeType, obj: Obj, old: Obj | None) -> None:
        for handler in self._handlers:
            try:
                handler(change, obj, old)
            except Exception:
                log.exception("%s: handler failed on %s", self.name, change)


class InformerSet:
    """Informers shared by several controllers: one per (resource, namespace, selectors)."""

    def __init__(self, kube: Kube, *, clock: Clock | None = None) -> None:
        self.kube = kube
        self.clock: Clock = clock or SystemClock()
        self._informers: dict[tuple[ResourceType, str, str, str], Informer] = {}

    def get(
        self,
        rt: ResourceType,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> Informer:
        key = (rt, namespace, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(
                self.kube,
                rt,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                clock=self.clock,
            )
            self._informers[key] = informer
        return informer

    def __iter__(self) -> Iterator[Informer]:
        return iter(list(self._informers.values()))

    async def wait_synced(self) -> None:
        for informer in self:
            await informer.wait_synced()

    def coroutines(self) -> dict[str, Coroutine[Any, Any, None]]:
        """Each informer's run() under a unique task name."""
        named: dict[str, Coroutine[Any, Any, None]] = {}
        for i, informer in enumerate(self):
            name = informer.name
            if informer.label_selector or informer.field_selector:
                name += f"#{i}"
            named[name] = informer.run()
        return named
