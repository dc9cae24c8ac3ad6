"""Errors raised by every store driver; callers catch these, never a driver's own.

    StoreError                  any failure of the store
    ├── InvalidStoreURL         the URL or an option is malformed (nothing was opened)
    ├── StoreUnavailable        the backend cannot be reached or failed; retrying may help
    │   └── StoreClosed         the store (or this watch) was closed by its owner
    ├── Compacted               the requested revision was removed by compaction (HTTP 410)
    ├── FutureRevision          the requested revision has not been written yet
    └── Conflict                a compare-and-swap precondition failed; `.current` is the
        │                       key's current item (None when absent)
        ├── KeyExists           create() of a key that exists
        └── KeyNotFound         update()/delete() of a key that does not exist

Drivers chain the original exception with `raise ... from e`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k3os.store._model import KeyValue


class StoreError(Exception):
    """Base class of every error raised by the store."""


class InvalidStoreURL(StoreError):
    """A datastore URL or option is malformed or names an unknown scheme."""


class StoreUnavailable(StoreError):
    """The backend failed or cannot be reached; the operation may or may not have happened
    for writes whose outcome is unknown, so callers re-read before retrying."""


class StoreClosed(StoreUnavailable):
    """The store or the watch was closed; no further operations are possible on it."""


class Compacted(StoreError):
    """A read or watch asked for a revision older than the compaction allows."""

    def __init__(self, revision: int, compact_revision: int) -> None:
        super().__init__(
            f"revision {revision} has been compacted (compact revision {compact_revision})"
        )
        self.revision = revision
        self.compact_revision = compact_revision


class FutureRevision(StoreError):
    """A read or compaction asked for a revision newer than the store's current one."""

    def __init__(self, revision: int, current_revision: int) -> None:
        super().__init__(
            f"revision {revision} is in the future (current revision {current_revision})"
        )
        self.revision = revision
        self.current_revision = current_revision


class Conflict(StoreError):
    """A compare-and-swap precondition failed: the key's mod revision was not the expected
    one. `current` is the key's item at the time of the failure, or None if it is absent."""

    def __init__(self, key: str, current: KeyValue | None, message: str | None = None) -> None:
        if message is None:
            have = current.mod_revision if current is not None else "absent"
            message = f"key {key!r} was modified concurrently (mod revision now {have})"
        super().__init__(message)
        self.key = key
        self.current = current


class KeyExists(Conflict):
    """create() found the key already present; `current` is the existing item."""

    def __init__(self, key: str, current: KeyValue | None) -> None:
        super().__init__(key, current, f"key {key!r} already exists")


class KeyNotFound(Conflict):
    """update() or delete() found no such key; `current` is None."""

    def __init__(self, key: str) -> None:
        super().__init__(key, None, f"key {key!r} not found")
