"""A store owned by another process of the same server, reached over a local socket.

`k3os server --api-workers N` serves the API from N more processes beside the main one.
A SQLite file has one owner (its single writer, its watch hub, its expiry timer and
compactor live in the main process); a worker reaches it through a `RemoteStore`, and the
main process answers through a `StoreService`:

- every call of the `Store` interface is one request frame and one answer frame on a
  socket pair the main process made when it started the worker (nothing on the
  filesystem, nothing another user can connect to);
- each worker holds **one** watch of every key, from the head at the moment it connected;
  the events feed a `WatchHub` in the worker, so the worker's own watches (the API's shared
  per-resource watches, the RBAC mirrors, the CRD loop) are served from memory exactly as
  the main process serves its own, and history older than the worker's ring is read from
  the owner's log;
- `current_revision` asks the owner (a client may bring a revision another process wrote),
  and a watch that starts past what the worker has seen waits for those events, which are
  already on their way;
- the items the worker read or wrote last are kept (`recent`, a bounded LRU the event stream
  keeps current) so a read-modify-write can start without the read's round trip; its
  compare-and-swap decides whether the item was still current.

Frames are a 4-byte big-endian length and a `marshal`ed tuple (plain values only: the peer
is our own process, and marshal is the cheapest codec in the standard library). What one
turn of the event loop sends to the link leaves in one write. A worker that stops reading
(its unread events past `MAX_UNSENT` bytes) is cut off; it exits, and the main process
starts another.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import socket
import struct
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from k3os.store._errors import (
    Compacted,
    Conflict,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    StoreClosed,
    StoreError,
    StoreUnavailable,
)
from k3os.store._interface import Store, Watch
from k3os.store._model import DeleteResult, Event, EventType, KeyValue, RangeResult
from k3os.store._recent import ABSENT, Recent
from k3os.store._watch import WatchHub

__all__ = ["MAX_UNSENT", "RemoteStore", "StoreService"]

log = logging.getLogger(__name__)

_LEN = struct.Struct(">I")
#: Bytes queued for a worker that does not read before its link is cut.
MAX_UNSENT = 256 * 1024 * 1024
#: Events a worker keeps in memory for its watches (up to twice this many).
RING_EVENTS = 2048

Message = tuple[Any, ...]

# -- encoding ------------------------------------------------------------------------------


def _kv(kv: KeyValue | None) -> tuple[Any, ...] | None:
    if kv is None:
        return None
    return (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def _unkv(t: tuple[Any, ...] | None) -> KeyValue | None:
    return None if t is None else KeyValue(*t)


def _event(e: Event) -> tuple[Any, ...]:
    return (e.type is EventType.DELETE, _kv(e.kv), _kv(e.prev_kv))


def _unevent(t: tuple[Any, ...]) -> Event:
    kv = _unkv(t[1])
    assert kv is not None
    return Event(EventType.DELETE if t[0] else EventType.PUT, kv, _unkv(t[2]))


def _error(e: StoreError) -> tuple[Any, ...]:
    if isinstance(e, Compacted):
        return ("Compacted", e.revision, e.compact_revision)
    if isinstance(e, FutureRevision):
        return ("FutureRevision", e.revision, e.current_revision)
    if isinstance(e, KeyExists):
        return ("KeyExists", e.key, _kv(e.current))
    if isinstance(e, KeyNotFound):
        return ("KeyNotFound", e.key)
    if isinstance(e, Conflict):
        return ("Conflict", e.key, _kv(e.current), str(e))
    if isinstance(e, StoreClosed):
        return ("StoreClosed", str(e))
    return ("StoreUnavailable", str(e))


def _unerror(t: tuple[Any, ...]) -> StoreError:
    kind, *args = t
    if kind == "Compacted":
        return Compacted(*args)
    if kind == "FutureRevision":
        return FutureRevision(*args)
    if kind == "KeyExists":
        return KeyExists(args[0], _unkv(args[1]))
    if kind == "KeyNotFound":
        return KeyNotFound(args[0])
    if kind == "Conflict":
        return Conflict(args[0], _unkv(args[1]), args[2])
    if kind == "StoreClosed":
        return StoreClosed(args[0])
    return StoreUnavailable(args[0])


def _range(r: RangeResult) -> tuple[Any, ...]:
    return ([_kv(kv) for kv in r.items], r.revision, r.more, r.count)


def _unrange(t: tuple[Any, ...]) -> RangeResult:
    return RangeResult([KeyValue(*kv) for kv in t[0]], t[1], t[2], t[3])


def _delete(d: DeleteResult) -> tuple[Any, ...]:
    return (_kv(d.prev_kv), d.revision)


def _undelete(t: tuple[Any, ...]) -> DeleteResult:
    prev = _unkv(t[0])
    assert prev is not None
    return DeleteResult(prev, t[1])


def _same(value: Any) -> Any:
    return value


async def _ready(value: Any) -> Any:
    return value


# -- the link ------------------------------------------------------------------------------


class _Link(asyncio.Protocol):
    """Frames both ways over one stream socket; sends of one loop turn leave as one write."""

    def __init__(self, on_message: Callable[[Message], None], on_lost: Callable[[], None]) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._buf = bytearray()
        self._out: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport: asyncio's, or uvloop's (which does not subclass it).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos, size = 0, len(buf)
        try:
            while size - pos >= 4:
                (n,) = _LEN.unpack_from(buf, pos)
                if size - pos - 4 < n:
                    break
                message = marshal.loads(buf[pos + 4 : pos + 4 + n])
                pos += 4 + n
                self._on_message(message)
        finally:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._on_lost()

    def send(self, message: Message) -> None:
        if self.closed or self.transport is None:
            return
        data = marshal.dumps(message)
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(_LEN.pack(len(data)))
        self._out.append(data)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.closed or self.transport is None or not out:
            return
        self.transport.write(b"".join(out))
        if self.transport.get_write_buffer_size() > MAX_UNSENT:
            log.error("an API worker stopped reading its store link; cutting it off")
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()


async def _open_link(
    sock: socket.socket, on_message: Callable[[Message], None], on_lost: Callable[[], None]
) -> _Link:
    loop = asyncio.get_running_loop()
    _, link = await loop.connect_accepted_socket(lambda: _Link(on_message, on_lost), sock)
    return link


# -- the owner's side ----------------------------------------------------------------------


def _send_answer(
    link: _Link, ident: int, op: str, result: Any, encode: Callable[[Any], Any]
) -> None:
    """Send a store operation's answer to the worker that asked."""
    try:
        answer = encode(result)
    except Exception as e:
        _send_error(link, ident, op, e)
        return
    link.send((ident, 0, answer))


def _send_error(link: _Link, ident: int, op: str, error: BaseException) -> None:
    """Send a store operation's error to the worker that asked. (It is not raised again
    here: its traceback would hold this frame, and the frame the error, a reference cycle
    per refused operation for the garbage collector.)"""
    if isinstance(error, StoreError):
        link.send((ident, 1, _error(error)))
        return
    # A bug here must not look like a hung request.
    log.error("store request %s failed", op, exc_info=error)
    link.send((ident, 1, ("StoreUnavailable", f"{op} failed in the server: {error}")))


class StoreService:
    """Answers the `RemoteStore`s of this server's worker processes from the real store."""

    def __init__(self, store: Store, extras: dict[str, Callable[[], Any]] | None = None) -> None:
        """`extras`: answers the owner gives by name besides the store's (the controllers'
        metrics text, for a worker's /metrics)."""
        self.store = store
        self.extras = extras or {}
        self._links: dict[_Link, set[asyncio.Task[None]]] = {}

    async def attach(self, sock: socket.socket) -> None:
        """Serve one worker on its end of a connected socket pair."""
        tasks: set[asyncio.Task[None]] = set()
        link: _Link

        def on_message(message: Message) -> None:
            answer = self._answer_soon(link, message)
            if answer is None:
                return
            task = asyncio.get_running_loop().create_task(answer)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        def on_lost() -> None:
            for task in list(tasks):
                task.cancel()
            self._links.pop(link, None)

        link = await _open_link(sock, on_message, on_lost)
        self._links[link] = tasks

    async def close(self) -> None:
        for link, tasks in list(self._links.items()):
            link.close()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._links.clear()

    def _call(self, op: str, args: tuple[Any, ...]) -> tuple[Any, Callable[[Any], Any]]:
        store = self.store
        if op == "get":
            return store._get(*args), _kv
        if op == "range":
            return store._range(*args), _range
        if op == "create":
            return store._create(*args), _kv
        if op == "update":
            return store._update(*args), _kv
        if op == "delete":
            return store._delete(*args), _delete
        if op == "rev":
            return store.current_revision(), _same
        if op == "compact":
            return store.compact(*args), _same
        if op == "extra":
            answer = self.extras.get(args[0])
            if answer is None:
                raise StoreUnavailable(f"the server has no {args[0]!r} to give")
            return _ready(answer()), _same
        if op == "history":
            history = getattr(store, "_history", None)
            if history is None:  # pragma: no cover - the drivers served this way have one
                raise StoreUnavailable(f"{type(store).__name__} keeps no readable history")
            return history(*args), lambda events: [_event(e) for e in events]
        raise StoreUnavailable(f"unknown store operation {op!r}")

    def _answer_soon(self, link: _Link, message: Message) -> Coroutine[Any, Any, None] | None:
        """Start answering `message`. An operation the driver answers with a future (the
        SQLite driver's writes) is answered from the future's callback, without a task;
        for anything else, the coroutine to run as a task."""
        ident, op, *args = message
        if op == "watch":
            return self._answer(link, ident, op, self._watch(link, ident), None)
        try:
            awaitable, encode = self._call(op, tuple(args))
        except Exception as e:  # answered here: the link's reading goes on
            _send_error(link, ident, op, e)
            return None
        if not isinstance(awaitable, asyncio.Future):
            return self._answer(link, ident, op, awaitable, encode)

        def done(future: asyncio.Future[Any]) -> None:
            if future.cancelled():
                return
            error = future.exception()
            if error is not None:
                _send_error(link, ident, op, error)
            else:
                _send_answer(link, ident, op, future.result(), encode)

        awaitable.add_done_callback(done)
        return None

    async def _answer(
        self,
        link: _Link,
        ident: int,
        op: str,
        awaitable: Awaitable[Any],
        encode: Callable[[Any], Any] | None,
    ) -> None:
        """Await what answers `op` and send it (`encode` None: `awaitable` sends its own
        answers, as a watch does; only its failure is sent here)."""
        try:
            result = await awaitable
        except asyncio.CancelledError:
            raise
        except Exception as e:
            _send_error(link, ident, op, e)
        else:
            if encode is not None:
                _send_answer(link, ident, op, result, encode)

    async def _watch(self, link: _Link, ident: int) -> None:
        """The worker's one watch: every event after the head, in order, batched per turn."""
        head = await self.store.current_revision()
        watch: Watch = await self.store.watch("", start_revision=head + 1)
        link.send((ident, 0, head))
        batch: list[tuple[Any, ...]] = []
        loop = asyncio.get_running_loop()

        def flush() -> None:
            events = batch[:]
            batch.clear()
            link.send((0, events))

        try:
            async with watch:
                async for event in watch:
                    if not batch:
                        loop.call_soon(flush)
                    batch.append(_event(event))
        except StoreError as e:
            link.send((0, _error(e)))
        finally:
            link.close()


# -- the worker's side ---------------------------------------------------------------------


class RemoteStore(Store):
    """The `Store` interface over a link to the process that owns the store. Open with
    `await RemoteStore.connect(sock)`; `lost` is set when the owner goes away."""

    def __init__(self) -> None:
        self._calls: dict[int, tuple[asyncio.Future[Any], Callable[[Any], Any]]] = {}
        self._next_id = 1
        self._hub = WatchHub(self._history, capacity=RING_EVENTS)
        self._recent = Recent()
        self._link: _Link | None = None
        self.lost = asyncio.Event()
        self._closed = False

    @classmethod
    async def connect(cls, sock: socket.socket, *, follow: bool = True) -> RemoteStore:
        """`follow=False`: the link only (`extra`, `lost`), no event stream (a worker on
        etcd, which reads and watches etcd itself)."""
        store = cls()
        store._link = await _open_link(sock, store._on_message, store._shut)
        if follow:
            head = await store._request("watch", (), _same)
            store._hub.reset(head, 0)
        return store

    async def extra(self, name: str) -> Any:
        """One of the owner's `extras`, by name."""
        return await self._request("extra", (name,), _same)

    def _on_message(self, message: Message) -> None:
        ident = message[0]
        if ident == 0:  # the owner's events, or why its watch ended
            payload = message[1]
            if isinstance(payload, list):
                events = [_unevent(t) for t in payload]
                self._recent.follow(events)
                self._hub.publish(events)
            else:
                log.error("the store's event stream ended: %s", _unerror(payload))
                self._shut()
            return
        call = self._calls.pop(ident, None)
        if call is None:
            return
        future, decode = call
        if future.done():
            return
        if message[1]:
            error = _unerror(message[2])
            if isinstance(error, Conflict):  # what the write found instead
                if error.current is not None:
                    self._recent.remember(error.current)
                else:
                    self._recent.forget(error.key, ABSENT)
            future.set_exception(error)
        else:
            future.set_result(decode(message[2]))

    def _shut(self) -> None:
        if self._link is not None:
            self._link.close()
        calls, self._calls = self._calls, {}
        for future, _ in calls.values():
            if not future.done():
                future.set_exception(StoreUnavailable("the server's store process went away"))
        self._hub.close()
        self._recent.clear()
        self.lost.set()

    def _request(self, op: str, args: tuple[Any, ...], decode: Callable[[Any], Any]) -> Any:
        """Send one request; the returned future resolves with its decoded answer."""
        self._check_open()
        link = self._link
        if link is None or link.closed:
            raise StoreUnavailable("the server's store process went away")
        ident = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[ident] = (future, decode)
        link.send((ident, op, *args))
        return future

    async def current_revision(self) -> int:
        head: int = await self._request("rev", (), _same)
        return head

    def recent(self, key: str) -> KeyValue | None:
        return None if self._closed else self._recent.get(key)

    def _remembered(self, t: tuple[Any, ...] | None) -> KeyValue | None:
        kv = _unkv(t)
        if kv is not None:
            self._recent.remember(kv)
        return kv

    def _get(self, key: str, revision: int) -> asyncio.Future[KeyValue | None]:
        if revision:  # a past item: nothing to keep
            return self._request("get", (key, revision), _unkv)  # type: ignore[no-any-return]

        def latest(t: tuple[Any, ...] | None) -> KeyValue | None:
            if t is None:
                self._recent.forget(key, ABSENT)
                return None
            return self._remembered(t)

        return self._request("get", (key, 0), latest)  # type: ignore[no-any-return]

    def _range(
        self, prefix: str, revision: int, limit: int, start_after: str | None
    ) -> asyncio.Future[RangeResult]:
        return self._request(  # type: ignore[no-any-return]
            "range", (prefix, revision, limit, start_after), _unrange
        )

    def _create(self, key: str, value: bytes, ttl: int | None) -> asyncio.Future[KeyValue]:
        return self._request(  # type: ignore[no-any-return]
            "create", (key, value, ttl), self._remembered
        )

    def _update(
        self, key: str, value: bytes, expected_mod_revision: int, ttl: int | None
    ) -> asyncio.Future[KeyValue]:
        return self._request(  # type: ignore[no-any-return]
            "update", (key, value, expected_mod_revision, ttl), self._remembered
        )

    def _delete(self, key: str, expected_mod_revision: int | None) -> asyncio.Future[DeleteResult]:
        def deleted(t: tuple[Any, ...]) -> DeleteResult:
            result = _undelete(t)
            self._recent.forget(key, result.revision)
            return result

        return self._request(  # type: ignore[no-any-return]
            "delete", (key, expected_mod_revision), deleted
        )

    async def _history(self, prefix: str, first: int, last: int, limit: int) -> list[Event]:
        found: list[Event] = await self._request(
            "history", (prefix, first, last, limit), lambda ts: [_unevent(t) for t in ts]
        )
        return found

    async def _watch(self, prefix: str, start_revision: int | None) -> Watch:
        self._check_open()
        hub = self._hub
        start = hub.head + 1 if start_revision is None else start_revision
        if start > hub.head + 1:  # written, perhaps by another process: are its events coming?
            head = await self.current_revision()
            if start > head + 1:
                raise FutureRevision(start, head)
        elif 1 < start <= hub.head:
            # A replay: the owner's compaction decides whether it can be served (a read at
            # start - 1 fails exactly when a watch from start would).
            await self._get("", start - 1)
        return hub.open(prefix, max(start, 1))

    async def compact(self, revision: int) -> None:
        await self._request("compact", (revision,), _same)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._shut()
