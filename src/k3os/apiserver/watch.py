"""watch: a chunked stream of `{"type", "object"}` lines from a resourceVersion on.

Without a resourceVersion (or with "0") the stream starts with synthetic ADDED events
for what exists. Selectors turn objects moving in or out of the selection into ADDED and
DELETED events. Bookmarks (`allowWatchBookmarks`) carry only the last revision seen; a
compacted start revision ends the stream with an ERROR event holding a 410 Expired
Status; `timeoutSeconds` ends it quietly.
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

from k3os.apis.jsonbytes import compact
from k3os.apiserver.broadcast import BACKLOG
from k3os.apiserver.context import ApiContext
from k3os.apiserver.errors import APIError, BadRequest, Expired, Timeout
from k3os.apiserver.reads import matcher, parse_revision, selected_prefix, selects_by_key
from k3os.apiserver.request import ApiRequest, query_bool, query_int
from k3os.apiserver.storage import ObjectStore
from k3os.store import (
    Compacted,
    Event,
    EventType,
    FutureRevision,
    KeyValue,
    StoreClosed,
    StoreUnavailable,
    Watch,
)

__all__ = ["WatchEnd", "watch_events"]

Obj = dict[str, Any]
Render = Callable[[str, Obj], Obj]

_TICK = StopIteration("tick")  # the stream's timer went off (a bookmark or the deadline is due)
_GONE = StopIteration("gone")  # the client went away (`WatchEnd`)


class WatchEnd:
    """Ends a watch's stream from outside, when its client has gone, without cancelling
    it: the stream's queue is woken and the stream returns as it does at its deadline
    (without the closing bookmark nobody would read). A cancellation would have left its
    exception, traceback and frames in cycles that only the garbage collector frees, once
    per watch, and a fleet's agents reopen their watches after every reboot."""

    __slots__ = ("_wake", "ended")

    def __init__(self) -> None:
        self._wake: Callable[[], None] | None = None
        self.ended = False

    def __call__(self) -> None:
        self.ended = True
        if self._wake is not None:
            self._wake()


def _line(kind: str, obj: Any) -> bytes:
    return compact({"type": kind, "object": obj}) + b"\n"


class _SharedEvents:
    """Decoded objects and encoded lines of recent events, shared by all watchers.

    With many watchers of one prefix, every change would otherwise be decoded and
    encoded once per watcher; here it is done once. Objects are shared: read only.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.objects: OrderedDict[tuple[str, str, int], Obj] = OrderedDict()
        self.lines: OrderedDict[tuple[str, str, str, int], bytes] = OrderedDict()

    def decode(self, req: ApiRequest, kv: KeyValue) -> Obj:
        key = (req.rt.group_version, kv.key, kv.mod_revision)
        obj = self.objects.get(key)
        if obj is None:
            obj = self.objects[key] = ObjectStore.decode(req.rt, kv)
            if len(self.objects) > self.size:
                self.objects.popitem(last=False)
        return obj

    def line(self, req: ApiRequest, kind: str, key: str, revision: int, obj: Obj) -> bytes:
        cache_key = (req.rt.group_version, kind, key, revision)
        line = self.lines.get(cache_key)
        if line is None:
            line = self.lines[cache_key] = _line(kind, obj)
            if len(self.lines) > self.size:
                self.lines.popitem(last=False)
        return line


_SHARED = _SharedEvents()


def _translate(
    req: ApiRequest, event: Event, keep: Callable[[Obj], bool] | None, by_key: bool = False
) -> tuple[str, Obj] | None:
    """The watch event a store event is for this stream, if any. `by_key`: `keep` reads
    only what an object's key holds (its name and namespace), so an object answers it as
    its previous version did, and that version is not decoded to ask."""
    if event.type is EventType.DELETE:
        if event.prev_kv is None:
            return None
        old = _SHARED.decode(req, event.prev_kv)
        if keep is not None and not keep(old):
            return None
        meta = {**old["metadata"], "resourceVersion": str(event.revision)}
        return "DELETED", {**old, "metadata": meta}
    new = _SHARED.decode(req, event.kv)
    new_in = keep is None or keep(new)
    if event.prev_kv is None:
        old_in = False
    elif keep is None or by_key:
        old_in = new_in
    else:
        old_in = keep(_SHARED.decode(req, event.prev_kv))
    if new_in:
        return ("MODIFIED" if old_in else "ADDED"), new
    if old_in:
        return "DELETED", new
    return None


def _bookmark(req: ApiRequest, revision: int, *, initial_end: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": str(revision)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": req.rt.kind, "apiVersion": req.rt.group_version, "metadata": meta}


async def watch_events(
    ctx: ApiContext, req: ApiRequest, render: Render | None = None, end: WatchEnd | None = None
) -> AsyncIterator[bytes]:
    """The stream's lines; `render` reshapes objects (Tables), None sends them as they are;
    `end` ends the stream when called. Raises (before the first line) for bad parameters."""
    q = dict(req.query)
    if req.name:
        q["fieldSelector"] = ",".join(
            s for s in (q.get("fieldSelector", ""), f"metadata.name={req.name}") if s
        )
    keep = matcher(req.rt, q)
    rv = parse_revision(q.get("resourceVersion"))
    bookmarks = query_bool(q, "allowWatchBookmarks")
    initial = q.get("sendInitialEvents", "")
    if initial and q.get("resourceVersionMatch") != "NotOlderThan":
        raise BadRequest(
            "sendInitialEvents is forbidden unless resourceVersionMatch is NotOlderThan"
        )
    send_initial = initial.lower() == "true" or (not initial and not rv)
    timeout = float(query_int(q, "timeoutSeconds"))
    if timeout <= 0:
        limit = ctx.settings.max_watch_timeout
        timeout = limit * (1 + random.random()) / 2  # spread reconnects, as upstream does
    by_key = keep is not None and selects_by_key(q)
    return _stream(
        ctx, req, keep, rv, send_initial, bool(initial), bookmarks, timeout, render, by_key, end
    )


async def _stream(
    ctx: ApiContext,
    req: ApiRequest,
    keep: Callable[[Obj], bool] | None,
    rv: int | None,
    send_initial: bool,
    initial_end_bookmark: bool,
    bookmarks: bool,
    lifetime: float,
    render: Render | None,
    by_key: bool = False,
    end: WatchEnd | None = None,
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    rt = req.rt
    prefix = selected_prefix(req)
    try:
        if send_initial:  # one object's initial state is a read of its key, not a scan
            page = await ctx.objects.list(rt, req.namespace, keep=keep, prefix=prefix)
            last = page.revision
            for obj in page.items:
                yield _line("ADDED", obj if render is None else render("ADDED", obj))
            if initial_end_bookmark and bookmarks:
                yield _line("BOOKMARK", _bookmark(req, last, initial_end=True))
        else:
            last = rv or await ctx.objects.current_revision()
        subscription = await ctx.subscribe(rt, prefix, last + 1)
        watch = None
        if subscription is None:  # older than the shared watch remembers: read the store
            watch = await ctx.store.watch(prefix, start_revision=last + 1)
    except (Compacted, Expired) as e:
        status = Expired.too_old(rv or 0, getattr(e, "compact_revision", 0)).to_status()
        yield _line("ERROR", status)
        return
    except FutureRevision as e:
        yield _line("ERROR", Timeout.too_large_resource_version(e.revision, e.current_revision)
                    .to_status())  # fmt: skip
        return
    except APIError as e:
        yield _line("ERROR", e.to_status())
        return
    # Events arrive on a queue (from the shared watch, or from a pump task over a store
    # watch of our own); the stream waits on it with a deadline, no task per event.
    pump: asyncio.Task[None] | None = None
    if subscription is not None:
        queue = subscription.queue
    else:
        assert watch is not None
        queue = asyncio.Queue()
        pump = asyncio.create_task(_pump(watch, queue))
    unhook = ctx.stopping.when_set(lambda: queue.put_nowait(None))
    if end is not None:
        end._wake = lambda: queue.put_nowait(_GONE)
        if end.ended:  # gone while the stream was starting
            queue.put_nowait(_GONE)
    next_bookmark = loop.time() + ctx.settings.bookmark_interval
    # One timer at a time puts a _TICK on the queue at the next bookmark or the deadline,
    # rather than a timeout armed and cancelled around every event: with a thousand
    # watchers, that was a timer per watcher per event.
    tick = loop.call_at(min(deadline, next_bookmark) if bookmarks else deadline,
                        queue.put_nowait, _TICK)  # fmt: skip
    try:
        while True:
            item = await queue.get()
            if item is _GONE:
                return
            if item is _TICK:
                if loop.time() >= deadline:
                    item = None
                else:
                    if bookmarks and loop.time() >= next_bookmark:
                        yield _line("BOOKMARK", _bookmark(req, last))
                        next_bookmark = loop.time() + ctx.settings.bookmark_interval
                    wake = min(deadline, next_bookmark) if bookmarks else deadline
                    tick = loop.call_at(wake, queue.put_nowait, _TICK)
                    continue
            if item is None:  # lifetime over, or the server is stopping
                if bookmarks:
                    yield _line("BOOKMARK", _bookmark(req, last))
                return
            if isinstance(item, Compacted):
                yield _line("ERROR", Expired.too_old(last, item.compact_revision).to_status())
                return
            if isinstance(item, BaseException):
                return
            last = item.revision
            out = _translate(req, item, keep, by_key)
            if out is None:
                continue
            if render is None:
                yield _SHARED.line(req, out[0], item.kv.key, item.revision, out[1])
            else:
                yield _line(out[0], render(out[0], out[1]))
    finally:
        tick.cancel()
        unhook()
        if end is not None:
            end._wake = None
        if subscription is not None:
            subscription.close()
        if pump is not None:
            pump.cancel()


async def _pump(watch: Watch, queue: asyncio.Queue[Event | BaseException | None]) -> None:
    try:
        async with watch:
            async for event in watch:
                if queue.qsize() >= BACKLOG:  # too slow a reader: it re-watches from its RV
                    queue.put_nowait(StoreUnavailable("watcher fell behind"))
                    return
                queue.put_nowait(event)
    except (Compacted, StoreClosed, StoreUnavailable) as e:
        queue.put_nowait(e)
        return
    queue.put_nowait(StopAsyncIteration())
