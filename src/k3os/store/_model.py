"""Value types shared by every driver: items, events, range results, options, key helpers."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key's value at one revision (etcd's `mvccpb.KeyValue`).

    - `create_revision`: the revision that created the key (since it was last absent).
    - `mod_revision`: the revision of the last write to the key; pass it back as
      `expected_mod_revision` for compare-and-swap, and use it as the object's
      resourceVersion.
    - `version`: writes since creation, starting at 1.
    - `lease`: 0 when the key has no TTL; otherwise an opaque, driver-specific id of the
      lease that expires it (do not interpret the number).
    """

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class Event:
    """One change, as delivered by a watch.

    For PUT, `kv` is the new item; `prev_kv` the item before (None on creation).
    For DELETE, `kv` carries the key, `mod_revision` = the revision of the deletion and an
    empty value (create_revision and version 0); `prev_kv` is the item that was deleted.
    Deletions by TTL expiry are ordinary DELETE events.
    """

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class RangeResult:
    """The answer to `Store.range`.

    - `items`: at most `limit` items, ordered by key.
    - `revision`: the revision the read was served at (the store's current revision when
      no revision was asked for); pass it back as `revision=` to continue a paginated list
      at the same snapshot.
    - `more`: True when further keys match after the last item.
    - `count`: the number of keys matching the prefix (after `start_after`, if given) at
      that revision, regardless of `limit`; `count - len(items)` items remain.
    """

    items: list[KeyValue]
    revision: int
    more: bool
    count: int


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """The answer to `Store.delete`: the item as it was, and the revision of the deletion."""

    prev_kv: KeyValue
    revision: int


SqliteSync = Literal["FULL", "NORMAL"]


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """Settings common to all drivers, plus a few driver-specific ones.

    Query parameters in the URL override these (same names; `ca`, `cert`, `key` for the
    TLS files).

    - `retention`: automatic compaction keeps this many most recent revisions readable
      and watchable. 0 turns automatic compaction off.
    - `retention_seconds`: ... and, whatever the write rate, every revision written in
      about the last this many seconds (kube-apiserver, compacting every 5 minutes, keeps
      5 to 10), so a watch resumed from a bookmark or after a server restart finds its
      revision; 0 for none. The history this keeps grows with the write rate.
    - `compact_interval`: seconds between automatic compactions (0 = off).
    - `synchronous`: SQLite only. FULL (default) fsyncs the WAL on every commit, so an
      acknowledged write survives power loss; NORMAL survives a crash of the process but
      may lose the last commits on power loss, for about 3x the single-writer rate.
    - `ca_file`, `cert_file`, `key_file`: etcd only; TLS to the etcd endpoints.
    """

    retention: int = 10_000
    retention_seconds: float = 300.0
    compact_interval: float = 60.0
    synchronous: SqliteSync = "FULL"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


def prefix_end(prefix: str) -> str | None:
    """The smallest key greater than every key starting with `prefix`; None for no bound."""
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            chars[-1] = chr(last + 1)
            return "".join(chars)
        chars.pop()
    return None


def validate_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"store keys are non-empty str, got {key!r}")
    try:
        key.encode()
    except UnicodeEncodeError:
        raise ValueError(f"store keys must be valid Unicode (UTF-8), got {key!r}") from None


def validate_prefix(prefix: str) -> None:
    if not isinstance(prefix, str):
        raise ValueError(f"store key prefixes are str, got {prefix!r}")
    if prefix:
        validate_key(prefix)


def validate_value(value: bytes) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"store values are bytes, got {type(value).__name__}")


def validate_ttl(ttl: int | None) -> None:
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1):
        raise ValueError(f"ttl is a whole number of seconds >= 1, got {ttl!r}")


def validate_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit is a whole number >= 0 (0 = no limit), got {limit!r}")
