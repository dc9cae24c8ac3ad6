"""The SQLite file's layout, connection settings and row decoding.

    log        one row per revision, the whole retained history. `prev_rev` links each row
               to the key's previous row (a deletion included; 0 for the first), so
               history is a chain per key: compaction finds superseded rows by walking
               revisions, a watch event's prev_kv is one primary-key lookup, and a read at
               an old revision walks back from the key's newest row.
    current    one row per live key -> its newest log row, plus its TTL deadline. Reads
               at the head go through it: O(result), never a scan of history.
    graveyard  one row per deleted key whose deletion is not yet compacted -> that
               deletion, so reads at older revisions still find the key's chain.
    meta       the compact revision and the compaction cursor, updated in the same
               transaction as the writes they describe. The head revision is the last log
               row (or the compact revision, if compaction removed a deletion at the head).

A write touches the log and one of the two small tables, no secondary index: that keeps
each commit to about as many pages as a bare INSERT into a keyed table.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from k3os.store._model import Event, EventType, KeyValue

SCHEMA_VERSION = 1
#: How long a connection waits for a lock held by another (ms).
BUSY_TIMEOUT_MS = 10000

_DDL = """
CREATE TABLE IF NOT EXISTS log (
    rev        INTEGER PRIMARY KEY,
    key        TEXT    NOT NULL,
    deleted    INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    lease      INTEGER NOT NULL,
    prev_rev   INTEGER NOT NULL,
    value      BLOB
);
CREATE TABLE IF NOT EXISTS current (
    key        TEXT    PRIMARY KEY,
    rev        INTEGER NOT NULL,
    expires_at REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS current_expiry ON current (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS graveyard (
    key TEXT    PRIMARY KEY,
    rev INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta VALUES
    ('schema', 1), ('compact_revision', 0), ('compact_cursor', 0);
"""

#: Columns of a log row, in the order `row_to_kv` expects.
LOG_COLUMNS = "l.rev, l.key, l.deleted, l.create_rev, l.version, l.lease, l.value"
PREV_COLUMNS = "p.rev, p.key, p.deleted, p.create_rev, p.version, p.lease, p.value"


def connect(path: str, synchronous: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with our settings."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    # Truncate the WAL back to this size after checkpoints, so it cannot stay large.
    conn.execute("PRAGMA journal_size_limit = 8388608")
    conn.execute("PRAGMA cache_size = -16000")
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(_DDL)
    version = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"schema version {version} is not the supported version {SCHEMA_VERSION}"
        )


def read_meta(conn: sqlite3.Connection) -> dict[str, int]:
    """The meta rows plus `head`, the newest revision: the last log row, or the compact
    revision when compaction removed a deletion at the very head."""
    meta: dict[str, int] = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    last = conn.execute("SELECT MAX(rev) FROM log").fetchone()[0] or 0
    meta["head"] = max(last, meta["compact_revision"])
    return meta


def row_to_kv(row: tuple[Any, ...], offset: int = 0) -> KeyValue | None:
    """The item of a log row (None for a tombstone or a missing joined row)."""
    rev, key, deleted, create_rev, version, lease, value = row[offset : offset + 7]
    if rev is None or deleted:
        return None
    return KeyValue(key, value if value is not None else b"", create_rev, rev, version, lease)


def row_to_event(row: tuple[Any, ...]) -> Event:
    """An event from `SELECT LOG_COLUMNS, PREV_COLUMNS` (log joined to its previous row)."""
    prev = row_to_kv(row, 7)
    if row[2]:
        return Event(EventType.DELETE, KeyValue(row[1], b"", 0, row[0], 0), prev)
    kv = row_to_kv(row)
    assert kv is not None
    return Event(EventType.PUT, kv, prev)
