"""`sqlite:///path`: the default store, one SQLite file in WAL mode owned by one process.

Writes go through the single writer thread (`_sqlite_writer`); reads run on the event
loop's own connection, each inside one short read transaction so that the rows and the
revision they report come from the same snapshot. Watches are fed in-process by the
writer (`_watch.WatchHub`), never by polling. A lock file next to the database keeps a
second process from opening it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from k3os.store._background import AutoCompactor, ExpiryTimer
from k3os.store._errors import (
    Compacted,
    FutureRevision,
    StoreUnavailable,
)
from k3os.store._interface import Store, Watch
from k3os.store._model import (
    DeleteResult,
    Event,
    KeyValue,
    RangeResult,
    StoreOptions,
    prefix_end,
)
from k3os.store._registry import StoreURL
from k3os.store._sqlite_schema import (
    LOG_COLUMNS,
    PREV_COLUMNS,
    connect,
    create_schema,
    read_meta,
    row_to_event,
    row_to_kv,
)
from k3os.store._sqlite_writer import COMPACT, CREATE, DELETE, UPDATE, Op, Outcome, Writer
from k3os.store._watch import WatchHub

#: Events kept in memory for watchers (up to twice this many before trimming).
RING_EVENTS = 1024

_JOIN_CURRENT = f"SELECT {LOG_COLUMNS} FROM current c JOIN log l ON l.rev = c.rev"


class SqliteStore(Store):
    def __init__(self, path: str, options: StoreOptions, lock_fd: int) -> None:
        self._path = path
        self._lock_fd = lock_fd
        self._loop = asyncio.get_running_loop()
        self._reader = connect(path, options.synchronous)
        self._writer = Writer(path, options.synchronous, self._loop, self._deliver)
        # Recent events stay in memory for watchers; older ones are read from the log.
        self._hub = WatchHub(self._history, capacity=RING_EVENTS)
        self._hub.reset(self._writer.revision, self._writer.compact_revision)
        self._expiry = ExpiryTimer(self._expire)
        self._compactor = AutoCompactor.for_options(self.current_revision, self.compact, options)
        self._closed = False

    def start(self) -> None:
        for key, rev, expires_at in self._reader.execute(
            "SELECT key, rev, expires_at FROM current WHERE expires_at IS NOT NULL"
        ):
            self._expiry.schedule(key, rev, expires_at)
        self._writer.start()
        self._expiry.start("store-sqlite-expiry")
        self._compactor.start("store-sqlite-compactor")

    # -- plumbing ----------------------------------------------------------------------

    def _deliver(self, outcome: Outcome) -> None:
        """On the loop, after a commit: publish events first, then wake the writers, so a
        writer that sees its result can already watch past it."""
        results, events, expiries, compact_revision = outcome
        self._hub.publish(events)
        if compact_revision > self._hub.compact_revision:
            self._hub.set_compact_revision(compact_revision)
        for key, revision, deadline in expiries:
            self._expiry.schedule(key, revision, deadline)
        for future, outcome in results:
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _submit(
        self, kind: int, key: str, value: bytes | None, expected: int | None, ttl: int | None
    ) -> asyncio.Future[Any]:
        """Queue one operation for the writer; the future resolves after its commit."""
        self._check_open()
        future: asyncio.Future[Any] = self._loop.create_future()
        self._writer.submit(Op(kind, key, value, expected, ttl, future))
        return future

    @contextlib.contextmanager
    def _snapshot(self, revision: int | None) -> Iterator[tuple[sqlite3.Connection, int, int, int]]:
        """One read transaction: (connection, revision to read at, head, compact revision)."""
        self._check_open()
        conn = self._reader
        try:
            conn.execute("BEGIN")
            try:
                meta = read_meta(conn)
                head, compacted = meta["head"], meta["compact_revision"]
                at = revision if revision else head
                if at < compacted:
                    raise Compacted(at, compacted)
                if at > head:
                    raise FutureRevision(at, head)
                yield conn, at, head, compacted
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise StoreUnavailable(f"SQLite read failed: {e}") from e

    # -- reads -------------------------------------------------------------------------

    async def current_revision(self) -> int:
        self._check_open()
        return self._hub.head

    async def _get(self, key: str, revision: int) -> KeyValue | None:
        if not revision:
            self._check_open()
            try:
                row = self._reader.execute(_JOIN_CURRENT + " WHERE c.key = ?", (key,)).fetchone()
            except sqlite3.Error as e:
                raise StoreUnavailable(f"SQLite read failed: {e}") from e
            return row_to_kv(row) if row is not None else None
        with self._snapshot(revision) as (conn, at, _, _):
            return self._get_at(conn, key, at)

    @staticmethod
    def _get_at(conn: sqlite3.Connection, key: str, at: int) -> KeyValue | None:
        """The key as of `at`: walk its chain back from its newest row. Only rows newer
        than `at` are passed, and compaction keeps all of those."""
        newest = conn.execute(
            "SELECT rev FROM current WHERE key = ? "
            "UNION ALL SELECT rev FROM graveyard WHERE key = ?",
            (key, key),
        ).fetchone()
        rev = newest[0] if newest is not None else 0
        while rev > at:
            link = conn.execute("SELECT prev_rev FROM log WHERE rev = ?", (rev,)).fetchone()
            rev = link[0] if link is not None else 0
        if rev == 0:
            return None
        row = conn.execute(f"SELECT {LOG_COLUMNS} FROM log l WHERE l.rev = ?", (rev,)).fetchone()
        # A missing row was a deletion removed by compaction: the key was absent.
        return row_to_kv(row) if row is not None else None

    async def _range(
        self, prefix: str, revision: int, limit: int, start_after: str | None
    ) -> RangeResult:
        end = prefix_end(prefix)
        after = start_after is not None and start_after >= prefix
        lower, lower_op = (start_after, ">") if after else (prefix, ">=")

        def bounds(column: str) -> str:
            upper = f" AND {column} < ?" if end is not None else ""
            return f"{column} {lower_op} ?{upper}"

        args: tuple[Any, ...] = (lower, end) if end is not None else (lower,)
        with self._snapshot(revision) as (conn, at, head, _):
            count = conn.execute(
                f"SELECT COUNT(*) FROM current WHERE {bounds('key')}", args
            ).fetchone()[0]
            changed: set[str] = set()
            if at < head:
                # Keys written after `at`: their current rows do not show them as of `at`.
                changed = {
                    k
                    for (k,) in conn.execute(
                        f"SELECT DISTINCT key FROM log WHERE rev > ? AND {bounds('key')}",
                        (at, *args),
                    )
                }
            window = limit + 1 + len(changed) if limit else -1
            rows = conn.execute(
                _JOIN_CURRENT + f" WHERE {bounds('c.key')} ORDER BY c.key LIMIT ?",
                (*args, window),
            ).fetchall()
            items = [kv for kv in map(row_to_kv, rows) if kv is not None and kv.key not in changed]
            for key in changed:
                live_now = conn.execute("SELECT 1 FROM current WHERE key = ?", (key,)).fetchone()
                count -= live_now is not None
                old = self._get_at(conn, key, at)
                if old is not None:
                    count += 1
                    items.append(old)
        items.sort(key=lambda kv: kv.key)
        if limit and len(rows) == window:
            # The window ended early: only keys up to its last row are known to be complete.
            last = rows[-1][1]
            items = [kv for kv in items if kv.key <= last]
        if limit and len(items) > limit:
            return RangeResult(items[:limit], at, True, count)
        return RangeResult(items, at, False, count)

    async def _history(self, prefix: str, first: int, last: int, limit: int) -> list[Event]:
        end = prefix_end(prefix)
        key_bound = "l.key >= ?" + (" AND l.key < ?" if end is not None else "")
        args = (prefix, end) if end is not None else (prefix,)
        with self._snapshot(None) as (conn, _, _, compacted):
            if first <= compacted:
                raise Compacted(first, compacted)
            rows = conn.execute(
                f"SELECT {LOG_COLUMNS}, {PREV_COLUMNS} FROM log l "
                "LEFT JOIN log p ON p.rev = l.prev_rev "
                f"WHERE l.rev >= ? AND l.rev <= ? AND {key_bound} ORDER BY l.rev LIMIT ?",
                (first, last, *args, limit),
            ).fetchall()
        return [row_to_event(row) for row in rows]

    # -- writes ------------------------------------------------------------------------

    # Plain functions returning the writer's future: the public coroutine awaits it.

    def _create(self, key: str, value: bytes, ttl: int | None) -> asyncio.Future[KeyValue]:
        return self._submit(CREATE, key, value, None, ttl)

    def _update(
        self, key: str, value: bytes, expected_mod_revision: int, ttl: int | None
    ) -> asyncio.Future[KeyValue]:
        return self._submit(UPDATE, key, value, expected_mod_revision, ttl)

    def _delete(self, key: str, expected_mod_revision: int | None) -> asyncio.Future[DeleteResult]:
        return self._submit(DELETE, key, None, expected_mod_revision, None)

    async def _expire(self, key: str, mod_revision: int) -> None:
        await self.delete(key, expected_mod_revision=mod_revision)

    # -- watch, compaction, lifecycle --------------------------------------------------

    async def _watch(self, prefix: str, start_revision: int | None) -> Watch:
        self._check_open()
        hub = self._hub
        start = hub.head + 1 if start_revision is None else start_revision
        if start <= hub.compact_revision:
            raise Compacted(start, hub.compact_revision)
        if start > hub.head + 1:
            raise FutureRevision(start, hub.head)
        return hub.open(prefix, max(start, 1))

    async def compact(self, revision: int) -> None:
        await self._submit(COMPACT, "", None, revision, None)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._hub.close()
        await self._expiry.close()
        await self._compactor.close()
        self._writer.stop()
        await asyncio.to_thread(self._writer.join)
        self._writer.close()
        self._reader.close()
        os.close(self._lock_fd)


def _lock(path: str) -> int:
    lock_path = path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreUnavailable(
            f"{path} is in use by another process (it holds {lock_path})"
        ) from None
    return fd


async def open_sqlite(url: StoreURL, options: StoreOptions) -> Store:
    path = url.path
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreUnavailable(f"cannot create the directory of {path}: {e}") from e
    fd = _lock(path)
    try:
        conn = connect(path, options.synchronous)
        try:
            create_schema(conn)
        finally:
            conn.close()
        store = SqliteStore(path, options, fd)
    except sqlite3.Error as e:
        os.close(fd)
        raise StoreUnavailable(f"cannot open SQLite database {path}: {e}") from e
    except BaseException:
        os.close(fd)
        raise
    store.start()
    return store
