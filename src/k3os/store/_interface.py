"""The contract every driver implements: an async, revisioned key-value store with etcd v3
semantics. The API server codes against `Store` and `Watch` only.

Keys are non-empty `str` (stored as UTF-8; ordered by code point, which equals UTF-8
byte order). Values are `bytes`. Every successful write (create, update, delete, TTL
expiry) takes the next global revision; revisions only grow and have no gaps on the
SQLite and memory drivers (etcd's own revisions are passed through as they are).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable
from types import TracebackType

from k3os.store._errors import StoreClosed
from k3os.store._model import (
    DeleteResult,
    Event,
    KeyValue,
    RangeResult,
    validate_key,
    validate_limit,
    validate_prefix,
    validate_ttl,
    validate_value,
)


class Watch(AsyncIterator[Event], abc.ABC):
    """An ordered stream of the events under one prefix.

    Iterate with `async for`. Every event at or after the start revision is delivered
    exactly once, in revision order, none missing. Iteration raises `Compacted` if the
    watcher fell so far behind that compaction removed events it had not yet received,
    `StoreClosed` when the store is closed, and `StoreUnavailable` when the backend is
    lost; after any of these the caller re-lists and starts a new watch. Always close a
    watch (`aclose()` or `async with`), or it keeps resources until the store closes.
    """

    @abc.abstractmethod
    async def __anext__(self) -> Event:
        """The next event; waits until there is one."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop the watch; a pending `__anext__` raises `StoreClosed`. Idempotent."""

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Store(abc.ABC):
    """A revisioned key-value store. Open one with `open_store(url)`.

    Reads at a `revision` see the store exactly as it was after that revision; a revision
    older than the last compaction raises `Compacted`, one not yet written raises
    `FutureRevision`. Compaction at revision R keeps R itself readable and keeps every
    event after R watchable: reads need `revision >= R`, watches `start_revision > R`.

    Keys may carry a TTL in whole seconds: when it runs out the key is deleted as an
    ordinary write (a DELETE event with a new revision). Every write sets the key's TTL
    afresh; a write without `ttl` leaves the key without one. etcd rounds TTLs up to its
    minimum lease (2 s by default) and expires within about half a second of the deadline;
    a TTL of 20 s or more shares a lease with other writes of that TTL for a while (as
    kube-apiserver's lease reuse), so there a key may live up to 5 % of its TTL (at most
    a minute) longer.

    Drivers implement the `_get`, `_range`, `_create`, `_update`, `_delete` and `_watch`
    hooks; the public methods check the arguments first, the same way for every driver,
    and pass them on normalised (revision and limit 0 for "none", values as `bytes`).
    """

    _closed = False  # set by the driver's `close()`

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")

    @abc.abstractmethod
    async def current_revision(self) -> int:
        """The revision of the latest write (0 in an empty, new store; etcd starts at 1)."""

    async def get(self, key: str, *, revision: int | None = None) -> KeyValue | None:
        """The key's item at `revision` (default: now), or None if it is absent."""
        validate_key(key)
        return await self._get(key, revision or 0)

    def recent(self, key: str) -> KeyValue | None:
        """A recent item of the key, perhaps already replaced, known without a round trip;
        None when the driver has none to offer (then `get`). For an optimistic
        read-modify-write only: the `update` that follows must carry its `mod_revision`, so a
        stale item costs one `Conflict` and a real read, never a lost write."""
        return None

    async def range(
        self,
        prefix: str,
        *,
        revision: int | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> RangeResult:
        """The items whose key starts with `prefix` ("" = all keys), in key order, as of
        one revision.

        `limit` caps the number of items (None or 0 = no cap). To page through a large
        prefix at one snapshot, pass the previous result's `revision` and the last
        item's key as `start_after`: keys strictly after it are returned.
        """
        validate_prefix(prefix)
        validate_limit(limit)
        return await self._range(prefix, revision or 0, limit or 0, start_after)

    async def create(self, key: str, value: bytes, *, ttl: int | None = None) -> KeyValue:
        """Write the key only if it is absent; return the new item.

        Raises `KeyExists` (carrying the existing item) if it is present.
        """
        validate_key(key)
        validate_value(value)
        validate_ttl(ttl)
        return await self._create(key, bytes(value), ttl)

    async def update(
        self,
        key: str,
        value: bytes,
        *,
        expected_mod_revision: int,
        ttl: int | None = None,
    ) -> KeyValue:
        """Replace the key's value if its mod revision is still `expected_mod_revision`
        (compare-and-swap); return the new item.

        Raises `KeyNotFound` if the key is absent and `Conflict` (carrying the current
        item) if it was modified since.
        """
        validate_key(key)
        validate_value(value)
        validate_ttl(ttl)
        return await self._update(key, bytes(value), expected_mod_revision, ttl)

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> DeleteResult:
        """Delete the key, guarded by its mod revision when `expected_mod_revision` is given.

        Raises `KeyNotFound` if the key is absent, `Conflict` (carrying the current
        item) if the mod revision differs.
        """
        validate_key(key)
        return await self._delete(key, expected_mod_revision)

    async def watch(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        """Watch the keys starting with `prefix` ("" = all keys).

        Events with revision >= `start_revision` are delivered, replaying history first
        (default: only writes after the call). Raises `Compacted` at once if
        `start_revision` <= the compact revision, and `FutureRevision` if it is beyond
        the next revision.
        """
        validate_prefix(prefix)
        return await self._watch(prefix, start_revision)

    # The drivers' hooks, called with checked arguments (0 = no revision, no limit).

    @abc.abstractmethod
    def _get(self, key: str, revision: int) -> Awaitable[KeyValue | None]: ...

    @abc.abstractmethod
    def _range(
        self, prefix: str, revision: int, limit: int, start_after: str | None
    ) -> Awaitable[RangeResult]: ...

    @abc.abstractmethod
    def _create(self, key: str, value: bytes, ttl: int | None) -> Awaitable[KeyValue]: ...

    @abc.abstractmethod
    def _update(
        self, key: str, value: bytes, expected_mod_revision: int, ttl: int | None
    ) -> Awaitable[KeyValue]: ...

    @abc.abstractmethod
    def _delete(self, key: str, expected_mod_revision: int | None) -> Awaitable[DeleteResult]: ...

    @abc.abstractmethod
    def _watch(self, prefix: str, start_revision: int | None) -> Awaitable[Watch]: ...

    @abc.abstractmethod
    async def compact(self, revision: int) -> None:
        """Discard history before `revision`: reads at older revisions and watches that
        start at or before it raise `Compacted` from now on. Compacting at or below the
        current compact revision does nothing; beyond the current revision raises
        `FutureRevision`. Space is reclaimed in the background without blocking writes.

        Stores also compact themselves every `compact_interval` seconds, keeping the
        most recent `retention` revisions (see `StoreOptions`).
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop background work, end open watches with `StoreClosed` and release the
        backend. Writes already acknowledged are durable. Idempotent."""

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
