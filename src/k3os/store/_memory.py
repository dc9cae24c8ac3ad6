"""`memory://`: the whole store in one process's memory, for fast tests.

Same semantics as the SQLite driver (contiguous revisions from 1, MVCC reads back to the
compact revision, TTLs, watches), nothing persisted. Every operation runs without an
await between its check and its write, so it is atomic on the event loop.
"""

from __future__ import annotations

import bisect
import time

from k3os.store._background import AutoCompactor, ExpiryTimer
from k3os.store._errors import (
    Compacted,
    Conflict,
    FutureRevision,
    KeyExists,
    KeyNotFound,
)
from k3os.store._interface import Store, Watch
from k3os.store._model import (
    DeleteResult,
    Event,
    EventType,
    KeyValue,
    RangeResult,
    StoreOptions,
    prefix_end,
)
from k3os.store._registry import StoreURL
from k3os.store._watch import WatchHub

#: One key's history: (revision, item or None for a deletion), oldest first.
_Versions = list[tuple[int, KeyValue | None]]


class MemoryStore(Store):
    def __init__(self, options: StoreOptions) -> None:
        self._revision = 0
        self._compact_revision = 0
        self._versions: dict[str, _Versions] = {}
        self._keys: list[str] = []  # sorted; every key with any retained version
        self._live: dict[str, KeyValue] = {}
        self._live_keys: list[str] = []  # sorted
        self._hub = WatchHub(None, capacity=None)
        self._expiry = ExpiryTimer(self._expire)
        self._compactor = AutoCompactor.for_options(self.current_revision, self.compact, options)
        self._closed = False

    def start(self) -> None:
        self._expiry.start("store-memory-expiry")
        self._compactor.start("store-memory-compactor")

    # -- reads -------------------------------------------------------------------------

    def _check_revision(self, revision: int) -> int:
        self._check_open()
        if revision == 0:
            return self._revision
        if revision < self._compact_revision:
            raise Compacted(revision, self._compact_revision)
        if revision > self._revision:
            raise FutureRevision(revision, self._revision)
        return revision

    async def current_revision(self) -> int:
        self._check_open()
        return self._revision

    def _at(self, key: str, revision: int) -> KeyValue | None:
        versions = self._versions.get(key)
        if not versions:
            return None
        index = bisect.bisect_right(versions, revision, key=lambda v: v[0]) - 1
        return versions[index][1] if index >= 0 else None

    async def _get(self, key: str, revision: int) -> KeyValue | None:
        at = self._check_revision(revision)
        if at == self._revision:
            return self._live.get(key)
        return self._at(key, at)

    async def _range(
        self, prefix: str, revision: int, limit: int, start_after: str | None
    ) -> RangeResult:
        at = self._check_revision(revision)
        end = prefix_end(prefix)
        keys = self._live_keys if at == self._revision else self._keys
        lo = prefix if start_after is None or start_after < prefix else start_after
        first = bisect.bisect_right(keys, lo) if lo == start_after else bisect.bisect_left(keys, lo)
        last = len(keys) if end is None else bisect.bisect_left(keys, end)
        if at == self._revision:
            matching = [self._live[k] for k in keys[first:last]]
        else:
            found = (self._at(k, at) for k in keys[first:last])
            matching = [kv for kv in found if kv is not None]
        cap = limit or len(matching)
        return RangeResult(matching[:cap], at, len(matching) > cap, len(matching))

    # -- writes ------------------------------------------------------------------------

    def _write(self, key: str, kv: KeyValue | None, prev: KeyValue | None) -> Event:
        revision = self._revision + 1
        self._revision = revision
        versions = self._versions.get(key)
        if versions is None:
            versions = self._versions[key] = []
            bisect.insort(self._keys, key)
        versions.append((revision, kv))
        if kv is None:
            del self._live[key]
            del self._live_keys[bisect.bisect_left(self._live_keys, key)]
            assert prev is not None
            event = Event(EventType.DELETE, KeyValue(key, b"", 0, revision, 0), prev)
        else:
            if prev is None:
                bisect.insort(self._live_keys, key)
            self._live[key] = kv
            event = Event(EventType.PUT, kv, prev)
        self._hub.publish([event])
        return event

    def _lease(self, key: str, ttl: int | None) -> int:
        if ttl is None:
            return 0
        revision = self._revision + 1
        self._expiry.schedule(key, revision, time.time() + ttl)
        return revision

    async def _create(self, key: str, value: bytes, ttl: int | None) -> KeyValue:
        self._check_open()
        current = self._live.get(key)
        if current is not None:
            raise KeyExists(key, current)
        revision = self._revision + 1
        kv = KeyValue(key, value, revision, revision, 1, self._lease(key, ttl))
        self._write(key, kv, None)
        return kv

    async def _update(
        self, key: str, value: bytes, expected_mod_revision: int, ttl: int | None
    ) -> KeyValue:
        self._check_open()
        current = self._live.get(key)
        if current is None:
            raise KeyNotFound(key)
        if current.mod_revision != expected_mod_revision:
            raise Conflict(key, current)
        revision = self._revision + 1
        lease = self._lease(key, ttl)
        kv = KeyValue(key, value, current.create_revision, revision, current.version + 1, lease)
        self._write(key, kv, current)
        return kv

    async def _delete(self, key: str, expected_mod_revision: int | None) -> DeleteResult:
        self._check_open()
        current = self._live.get(key)
        if current is None:
            raise KeyNotFound(key)
        if expected_mod_revision is not None and current.mod_revision != expected_mod_revision:
            raise Conflict(key, current)
        event = self._write(key, None, current)
        return DeleteResult(current, event.revision)

    async def _expire(self, key: str, mod_revision: int) -> None:
        await self.delete(key, expected_mod_revision=mod_revision)

    # -- watch and compaction ----------------------------------------------------------

    async def _watch(self, prefix: str, start_revision: int | None) -> Watch:
        self._check_open()
        start = self._revision + 1 if start_revision is None else start_revision
        if start <= self._compact_revision:
            raise Compacted(start, self._compact_revision)
        if start > self._revision + 1:
            raise FutureRevision(start, self._revision)
        return self._hub.open(prefix, max(start, 1))

    async def _history(self, prefix: str, first: int, last: int, limit: int) -> list[Event]:
        """Events under `prefix` with revisions first..last (at most `limit`), from the ring
        that holds all uncompacted history (for the API's worker processes)."""
        self._check_open()
        if first <= self._compact_revision:
            raise Compacted(first, self._compact_revision)
        found: list[Event] = []
        for event in self._hub.events_from(first):
            if event.revision > last or len(found) == limit:
                break
            if event.kv.key.startswith(prefix):
                found.append(event)
        return found

    async def compact(self, revision: int) -> None:
        self._check_open()
        if revision > self._revision:
            raise FutureRevision(revision, self._revision)
        if revision <= self._compact_revision:
            return
        self._compact_revision = revision
        self._hub.set_compact_revision(revision)
        emptied = []
        for key, versions in self._versions.items():
            index = bisect.bisect_right(versions, revision, key=lambda v: v[0]) - 1
            if index < 0:
                continue
            keep_from = index + 1 if versions[index][1] is None else index
            del versions[:keep_from]
            if not versions:
                emptied.append(key)
        for key in emptied:
            del self._versions[key]
            del self._keys[bisect.bisect_left(self._keys, key)]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._hub.close()
        await self._expiry.close()
        await self._compactor.close()


async def open_memory(url: StoreURL, options: StoreOptions) -> Store:
    store = MemoryStore(options)
    store.start()
    return store
