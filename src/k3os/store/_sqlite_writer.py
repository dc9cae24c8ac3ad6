"""The SQLite driver's single writer: one thread owns the only writing connection.

Writers on the event loop enqueue operations and await a future. The thread takes
whatever is queued (up to `MAX_BATCH`), applies it in one transaction with one commit
(group commit: one fsync for the whole batch), then hands the results and the events,
in revision order, back to the loop in one hand-off (`_handoff`). Being the only writer, it never
meets `database is locked`. Compaction's physical deletion runs on the same thread in
small transactions between write batches, so it never holds writers up for more than
one short step.

**Inline commits.** When commits are fast (`INLINE_COMMIT_BUDGET`, a moving average of
commit times) and the thread has nothing queued, the loop applies the queued batch itself,
on the same connection, under the same lock; operations submitted in one loop iteration
still go as one batch (taken on the next iteration). This holds when the loop is busy too.
The thread does not take a commit off a busy loop: its Python part needs the GIL the loop
holds, each SQLite call gives the GIL up and waits to get it back behind the loop (up to the
interpreter's switch interval), and its two hand-offs wake threads, often on the other CPU.
In a fleet rollout on the compiled event loop a batch the thread committed took 2.2 ms at
the median and 6.6 ms at the 90th percentile, after waiting 0.7 / 5.2 ms to start, and ~1 ms
more to be delivered; one the loop committed took 1.2 / 3.4 ms after 0.25 / 2.2 ms
(docs/benchmarks.md). A slow disk (an SD card's fsync takes milliseconds) sends the batches
to the thread, so the loop does not wait for a slow disk; the thread's commits bring the
average back under the budget as the disk recovers (timed with their waits for the GIL, so
under a busy loop that can take until the load eases).
WAL checkpoints (copying the WAL into the database file, with an fsync of its own) are
the thread's alone: the connection does not checkpoint at commit, and every
`CHECKPOINT_OPS` operations the thread runs a passive checkpoint between batches. A
passive checkpoint never waits for readers, so readers that keep overlapping it can keep
the WAL from starting over; once it is past `WAL_RESET_BYTES` the thread waits a little for
them (`WAL_RESET_WAIT_MS`) and truncates it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from k3os.store._errors import (
    Conflict,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    StoreClosed,
    StoreError,
    StoreUnavailable,
)
from k3os.store._handoff import Doorbell, LoopInbox
from k3os.store._model import DeleteResult, Event, EventType, KeyValue
from k3os.store._sqlite_schema import (
    BUSY_TIMEOUT_MS,
    LOG_COLUMNS,
    connect,
    read_meta,
    row_to_kv,
)

log = logging.getLogger(__name__)

MAX_BATCH = 512
#: The loop commits a batch itself only while commits take at most this long on average.
INLINE_COMMIT_BUDGET = 0.001
#: Weight of the newest commit in the moving average of commit times.
_COMMIT_WEIGHT = 0.125
#: Operations committed between two WAL checkpoints (~1,000 WAL pages of 1 KiB values).
CHECKPOINT_OPS = 400
#: A WAL this large after a passive checkpoint is checkpointed and truncated (half the
#: journal size limit SQLite is asked to keep it under).
WAL_RESET_BYTES = 4 * 1024 * 1024
#: How long that truncating checkpoint waits for readers before giving up until the next.
WAL_RESET_WAIT_MS = 50
#: Revisions examined per standalone compaction step (one short transaction).
COMPACT_STEP = 64

CREATE, UPDATE, DELETE, COMPACT = range(4)

# A write is a few statements on one reused cursor. A creation claims its `current` row
# first (the insert that does nothing tells that the key exists), so it needs no read.
_SELECT_CURRENT = f"SELECT {LOG_COLUMNS} FROM current c JOIN log l ON l.rev = c.rev WHERE c.key = ?"
_CLAIM_CURRENT = "INSERT INTO current VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING"
_MOVE_CURRENT = "UPDATE current SET rev = ?, expires_at = ? WHERE key = ?"
_DROP_CURRENT = "DELETE FROM current WHERE key = ?"
_UNBURY = "DELETE FROM graveyard WHERE key = ? RETURNING rev"
_BURY = "INSERT INTO graveyard VALUES (?, ?)"
_LOG_PUT = "INSERT INTO log VALUES (?, ?, 0, ?, ?, ?, ?, ?)"
_LOG_DELETE = "INSERT INTO log VALUES (?, ?, 1, 0, 0, 0, ?, NULL)"


@dataclass(slots=True)
class Op:
    kind: int
    key: str
    value: bytes | None
    expected: int | None  # mod revision for UPDATE/DELETE; target revision for COMPACT
    ttl: int | None
    future: asyncio.Future[Any]


#: What the writer hands back to the loop after each commit: each operation's future with
#: its outcome, the events, the TTL deadlines set, and the compact revision.
Outcome = tuple[
    list[tuple[asyncio.Future[Any], Any]], list[Event], list[tuple[str, int, float]], int
]


class Writer:
    """Runs the writer thread. `deliver(outcome)` is called on the event loop after every
    commit."""

    def __init__(
        self,
        path: str,
        synchronous: str,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[Outcome], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._synchronous = synchronous
        self._wal_path = f"{path}-wal"
        self._clock = clock
        self._loop = loop
        self._deliver = deliver
        self._queue: queue.SimpleQueue[Op | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="store-sqlite-writer", daemon=True)
        # The writing connection, used by the thread or (inline) by the loop, never both
        # at once: whoever holds the lock. Whoever commits also hands the outcome on
        # before letting go, so outcomes reach the loop in revision order.
        self._conn = connect(path, synchronous)
        try:
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")  # the thread checkpoints
            meta = read_meta(self._conn)
        except BaseException:
            self._conn.close()
            raise
        self._since_checkpoint = 0
        self._cur = self._conn.cursor()
        self._lock = threading.Lock()
        self._inline: list[Op] = []
        self._flush_scheduled = False
        self._stopping = False
        #: Moving average of commit times (seconds), from the thread's and inline commits.
        self.commit_seconds = 0.0
        #: Truncating checkpoints the WAL's size called for (for tests).
        self.wal_resets = 0
        #: Batches committed by the loop itself and by the thread (for tests and benches).
        self.inline_batches = 0
        self.thread_batches = 0
        self.compact_revision = meta["compact_revision"]
        self.revision = max(meta["head"], self.compact_revision)
        self._cursor = meta["compact_cursor"]
        self._failed: BaseException | None = None
        self._committed_compact_revision = self.compact_revision
        self._inbox = LoopInbox(loop, deliver)
        # The thread sleeps on a doorbell (a pipe) rather than on the queue's lock, so
        # that waking it is cheap (see `_handoff`).
        self._doorbell = Doorbell()

    def start(self) -> None:
        self._thread.start()

    def submit(self, op: Op) -> None:
        """On the loop: queue `op`. The batch of one loop iteration is taken on the next."""
        if self._failed is not None:
            raise StoreUnavailable(f"the SQLite writer stopped: {self._failed}") from self._failed
        if self._stopping:
            self._hand_off([op])
            return
        self._inline.append(op)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def stop(self) -> None:
        """On the loop: ask the thread to finish what is queued and exit (join it
        separately)."""
        self._stopping = True
        pending, self._inline = self._inline, []
        self._hand_off(pending)
        self._queue.put(None)
        self._doorbell.ring()

    def _hand_off(self, ops: list[Op]) -> None:
        for op in ops:
            self._queue.put(op)
        if ops:
            self._doorbell.ring()

    def _flush(self) -> None:
        """On the loop: commit the queued batch here while commits are fast and the thread
        has nothing queued (which keeps revision order), else hand it to the thread."""
        self._flush_scheduled = False
        batch, self._inline = self._inline, []
        if not batch:
            return
        if not (
            self.commit_seconds <= INLINE_COMMIT_BUDGET
            and self._queue.empty()
            and self._lock.acquire(blocking=False)
        ):
            self._hand_off(batch)
            return
        try:
            # Outcomes the thread committed earlier go first, keeping revision order.
            self._inbox.drain()
            for start in range(0, len(batch), MAX_BATCH):
                self._apply(self._cur, batch[start : start + MAX_BATCH], self._deliver)
                self.inline_batches += 1
        except BaseException as e:  # pragma: no cover - a bug: fail loudly, not silently
            log.exception("SQLite inline write failed")
            self._failed = e
            failure = StoreUnavailable(f"the SQLite writer stopped: {e!r}")
            unfinished = [(op.future, failure) for op in batch if not op.future.done()]
            self._deliver((unfinished, [], [], self.compact_revision))
            raise
        finally:
            self._lock.release()
        if self._compaction_due() or self._checkpoint_due():
            self._doorbell.ring()  # the rest of the compaction, and checkpoints: the thread's

    def join(self) -> None:
        self._thread.join()

    def close(self) -> None:
        """On the loop, after `join`: deliver what is left and release the hand-offs."""
        self._inbox.close()
        self._doorbell.close()

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop_forever(self._cur)
        except BaseException as e:  # pragma: no cover - the thread must report, not vanish
            log.exception("SQLite writer stopped")
            self._failed = e
        finally:
            with self._lock:
                self._conn.close()
            self._drain_after_stop()

    def _loop_forever(self, cur: sqlite3.Cursor) -> None:
        pending = self._queue
        while True:
            # Between batches, when none waits (or the WAL has grown far past due).
            if self._checkpoint_due() and (
                pending.empty() or self._since_checkpoint >= 4 * CHECKPOINT_OPS
            ):
                with self._lock:
                    self._checkpoint(cur)
            if self._compaction_due() and pending.empty():
                with self._lock:
                    failed = self._compaction_due() and not self._compact_step(cur)
                if failed:
                    time.sleep(0.1)
                continue
            self._doorbell.wait_until(self._has_work)
            if pending.empty():
                continue  # woken for compaction or a checkpoint
            first = pending.get_nowait()
            if first is None:
                return
            batch = [first]
            stop = False
            # Only this thread takes from the queue, so `empty()` is exact here.
            while not pending.empty() and len(batch) < MAX_BATCH:
                op = pending.get_nowait()
                if op is None:
                    stop = True
                    break
                batch.append(op)
            with self._lock:
                try:
                    # Counted before the outcomes are posted: the loop may read the count
                    # as soon as a write it awaited is answered.
                    self.thread_batches += 1
                    self._apply(cur, batch, self._inbox.post)
                except BaseException as e:  # pragma: no cover - a bug: fail loudly
                    failure = StoreUnavailable(f"the SQLite writer stopped: {e!r}")
                    self._post([(op.future, failure) for op in batch], [], [])
                    raise
            if stop:
                return

    def _compaction_due(self) -> bool:
        return self._cursor < self.compact_revision

    def _checkpoint_due(self) -> bool:
        return self._since_checkpoint >= CHECKPOINT_OPS

    def _has_work(self) -> bool:
        return not self._queue.empty() or self._compaction_due() or self._checkpoint_due()

    def _checkpoint(self, cur: sqlite3.Cursor) -> None:
        """A passive checkpoint: copies what no reader still needs and never waits for
        readers; then, if the WAL is still past `WAL_RESET_BYTES`, a truncating one that
        waits up to `WAL_RESET_WAIT_MS` for them. The caller holds the lock."""
        self._since_checkpoint = 0
        try:
            cur.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            if self._wal_size() > WAL_RESET_BYTES:
                self.wal_resets += 1
                cur.execute(f"PRAGMA busy_timeout = {WAL_RESET_WAIT_MS}")
                try:
                    cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                finally:
                    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error as e:
            log.error("SQLite WAL checkpoint failed (will retry): %s", e)

    def _wal_size(self) -> int:
        try:
            return os.path.getsize(self._wal_path)
        except OSError:
            return 0

    def _drain_after_stop(self) -> None:
        leftovers: list[tuple[asyncio.Future[Any], Any]] = []
        while True:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            if op is not None:
                leftovers.append((op.future, StoreClosed("the store is closed")))
        if leftovers:
            self._post(leftovers, [], [])

    def _post(
        self,
        results: list[tuple[asyncio.Future[Any], Any]],
        events: list[Event],
        expiries: list[tuple[str, int, float]],
    ) -> None:
        self._inbox.post((results, events, expiries, self.compact_revision))

    def _apply(
        self,
        cur: sqlite3.Cursor,
        batch: list[Op],
        emit: Callable[[Outcome], None],
    ) -> None:
        """Apply `batch` in one transaction and pass the outcome to `emit` (the loop's
        inbox, or on the loop straight to delivery). The caller holds the lock."""
        results: list[tuple[asyncio.Future[Any], Any]] = []
        events: list[Event] = []
        expiries: list[tuple[str, int, float]] = []
        revision = self.revision
        compact_revision = self._committed_compact_revision = self.compact_revision
        try:
            cur.execute("BEGIN IMMEDIATE")
            for op in batch:
                try:
                    if op.kind == COMPACT:
                        assert op.expected is not None
                        if op.expected > revision:
                            raise FutureRevision(op.expected, revision)
                        if op.expected > compact_revision:
                            compact_revision = op.expected
                            cur.execute(
                                "UPDATE meta SET value = ? WHERE name = 'compact_revision'",
                                (compact_revision,),
                            )
                        results.append((op.future, None))
                        continue
                    revision += 1
                    if op.kind == CREATE:
                        outcome, event, expiry = self._create(cur, op, revision)
                    else:
                        outcome, event, expiry = self._change(cur, op, revision)
                except StoreError as e:
                    if op.kind != COMPACT:
                        revision -= 1
                    # The answer, not where the writer found it: a traceback through
                    # this frame (whose `results` holds the error) would be a reference
                    # cycle per refused write, freed only by the garbage collector.
                    results.append((op.future, e.with_traceback(None)))
                    continue
                results.append((op.future, outcome))
                events.append(event)
                if expiry is not None:
                    expiries.append((op.key, revision, expiry))
            cursor = self._cursor
            if cursor < compact_revision:
                # Compaction rides along in the same commit, examining at least twice as
                # many revisions as the batch wrote, so it keeps up under any write load.
                self.compact_revision = compact_revision
                cursor = self._compact_rows(cur, min(8 * COMPACT_STEP, 2 * len(batch) + 16))
            started = time.perf_counter()
            cur.execute("COMMIT")
            self._note_commit(time.perf_counter() - started)
        except Exception as e:  # sqlite3.Error, or anything that broke an operation midway
            if cur.connection.in_transaction:
                cur.execute("ROLLBACK")
            self.compact_revision = self._committed_compact_revision
            if len(batch) > 1:
                # Find the culprit: apply the batch again one operation at a time, so
                # only the operation that fails is refused.
                for op in batch:
                    self._apply(cur, [op], emit)
                return
            log.error("SQLite write failed: %s", e)
            failure = StoreUnavailable(f"SQLite write failed: {e}")
            failure.__cause__ = e
            emit(([(op.future, failure) for op in batch], [], [], self.compact_revision))
            return
        self.revision = revision
        self.compact_revision = compact_revision
        self._cursor = cursor
        self._since_checkpoint += len(batch)
        emit((results, events, expiries, self.compact_revision))

    def _note_commit(self, seconds: float) -> None:
        # A commit far over the budget (a disk stall) sends the next batches to the
        # thread at once; the average then decays as commits get fast again.
        average = self.commit_seconds + (seconds - self.commit_seconds) * _COMMIT_WEIGHT
        stalled = seconds > 4 * INLINE_COMMIT_BUDGET
        self.commit_seconds = max(average, seconds) if stalled else average

    def _create(
        self, cur: sqlite3.Cursor, op: Op, revision: int
    ) -> tuple[KeyValue | DeleteResult, Event, float | None]:
        key = op.key
        expires_at = self._clock() + op.ttl if op.ttl is not None else None
        if cur.execute(_CLAIM_CURRENT, (key, revision, expires_at)).rowcount == 0:
            existing = row_to_kv(cur.execute(_SELECT_CURRENT, (key,)).fetchone())
            assert existing is not None
            raise KeyExists(key, existing)
        # Link the new row to the key's deletion, if that is still retained.
        grave = cur.execute(_UNBURY, (key,)).fetchall()
        lease = revision if op.ttl is not None else 0
        assert op.value is not None
        cur.execute(
            _LOG_PUT, (revision, key, revision, 1, lease, grave[0][0] if grave else 0, op.value)
        )
        kv = KeyValue(key, op.value, revision, revision, 1, lease)
        return kv, Event(EventType.PUT, kv, None), expires_at

    def _change(
        self, cur: sqlite3.Cursor, op: Op, revision: int
    ) -> tuple[KeyValue | DeleteResult, Event, float | None]:
        """An update or a deletion, guarded by the key's mod revision if one is expected."""
        key = op.key
        row = cur.execute(_SELECT_CURRENT, (key,)).fetchone()
        if row is None:
            raise KeyNotFound(key)
        current = row_to_kv(row)
        assert current is not None
        if op.expected is not None and current.mod_revision != op.expected:
            raise Conflict(key, current)
        if op.kind == DELETE:
            cur.execute(_LOG_DELETE, (revision, key, current.mod_revision))
            cur.execute(_DROP_CURRENT, (key,))
            cur.execute(_BURY, (key, revision))
            gone = KeyValue(key, b"", 0, revision, 0)
            return DeleteResult(current, revision), Event(EventType.DELETE, gone, current), None
        assert op.value is not None
        lease = revision if op.ttl is not None else 0
        expires_at = self._clock() + op.ttl if op.ttl is not None else None
        version = current.version + 1
        kv = KeyValue(key, op.value, current.create_revision, revision, version, lease)
        cur.execute(
            _LOG_PUT,
            (
                revision,
                key,
                current.create_revision,
                version,
                lease,
                current.mod_revision,
                op.value,
            ),
        )
        cur.execute(_MOVE_CURRENT, (revision, expires_at, key))
        return kv, Event(EventType.PUT, kv, current), expires_at

    def _compact_rows(self, cur: sqlite3.Cursor, limit: int) -> int:
        """Inside the caller's transaction, delete the rows that compaction made dead among
        the next `limit` revisions after the cursor; return the new cursor.

        A row is dead once a later row of its key (at or before the compact revision)
        names it as `prev_rev`; a deletion is dead as soon as it is compacted, and with it
        the key's graveyard entry.
        """
        target = self.compact_revision
        rows = cur.execute(
            "SELECT rev, key, deleted, prev_rev FROM log WHERE rev > ? AND rev <= ? "
            "ORDER BY rev LIMIT ?",
            (self._cursor, target, limit),
        ).fetchall()
        dead = [(prev,) for _, _, _, prev in rows if prev]
        tombstones = [(key, rev) for rev, key, deleted, _ in rows if deleted]
        dead += [(rev,) for _, rev in tombstones]
        cur.executemany("DELETE FROM log WHERE rev = ?", dead)
        cur.executemany("DELETE FROM graveyard WHERE key = ? AND rev = ?", tombstones)
        cursor: int = rows[-1][0] if len(rows) == limit else target
        cur.execute("UPDATE meta SET value = ? WHERE name = 'compact_cursor'", (cursor,))
        return cursor

    def _compact_step(self, cur: sqlite3.Cursor) -> bool:
        """One compaction step in its own short transaction, when no writes are waiting;
        False if it failed (to be retried after a pause). The caller holds the lock.

        It commits without an fsync of its own (synchronous=NORMAL for this transaction):
        losing it to a power cut only means redoing it, as the cursor moves in the same
        transaction, and the next acknowledged write's fsync makes it durable anyway. So a
        write that arrives meanwhile waits for a little CPU work, never for a disk flush.
        """
        try:
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("BEGIN IMMEDIATE")
            cursor = self._compact_rows(cur, COMPACT_STEP)
            cur.execute("COMMIT")
            self._since_checkpoint += 8  # deletions touch a few pages each
        except sqlite3.Error as e:
            if cur.connection.in_transaction:
                cur.execute("ROLLBACK")
            log.error("SQLite compaction step failed (will retry): %s", e)
            return False
        finally:
            cur.execute(f"PRAGMA synchronous = {self._synchronous}")
        self._cursor = cursor
        return True
