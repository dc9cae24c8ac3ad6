"""watch: events from a resourceVersion, selector transitions, bookmarks, 410 after
compaction, initial events, and the watch of one named object."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from k3os.apiserver.request import ApiRequest
from k3os.apiserver.watch import watch_events
from tests.unit.apiserver._api import api_server, cm

CMS = "/api/v1/namespaces/default/configmaps"


async def test_watch_from_a_resource_version_sees_every_change() -> None:
    async with api_server() as api:
        start = (await api.http.get(CMS)).json()["metadata"]["resourceVersion"]
        made = (await api.create(CMS, cm("w", a="1"))).json()
        made["data"] = {"a": "2"}
        await api.http.put(f"{CMS}/w", json=made)
        await api.http.delete(f"{CMS}/w")
        events = await api.lines(CMS, resourceVersion=start, timeoutSeconds="1")
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            ("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w"),
        ]  # fmt: skip
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
        assert rvs == sorted(rvs) and len(set(rvs)) == 3


async def test_watch_without_a_version_starts_with_what_exists() -> None:
    async with api_server() as api:
        await api.create(CMS, cm("old"))
        events = await api.lines(CMS, timeoutSeconds="1", allowWatchBookmarks="true")
        assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
        bookmark = events[-1]["object"]
        assert bookmark["kind"] == "ConfigMap" and bookmark["metadata"]["resourceVersion"]
        streaming = await api.lines(
            CMS, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
            allowWatchBookmarks="true", timeoutSeconds="1",
        )  # fmt: skip
        marker = streaming[1]["object"]["metadata"]["annotations"]
        assert marker == {"k8s.io/initial-events-end": "true"}
        refused = await api.http.get(CMS, params={"watch": "1", "sendInitialEvents": "true"})
        assert refused.status_code == 400


async def test_selectors_turn_moves_into_added_and_deleted() -> None:
    async with api_server() as api:
        start = (await api.http.get(CMS)).json()["metadata"]["resourceVersion"]
        made = (await api.create(CMS, cm("s"))).json()
        made["metadata"]["labels"] = {"pick": "me"}
        made = (await api.http.put(f"{CMS}/s", json=made)).json()
        made["metadata"]["labels"] = {}
        await api.http.put(f"{CMS}/s", json=made)
        await api.create(CMS, cm("other"))
        events = await api.lines(
            CMS, resourceVersion=start, labelSelector="pick=me", timeoutSeconds="1"
        )
        assert [e["type"] for e in events] == ["ADDED", "DELETED"]
        named = await api.lines(f"{CMS}/other", resourceVersion=start, timeoutSeconds="1")
        assert [e["object"]["metadata"]["name"] for e in named] == ["other"]


async def test_compacted_start_is_an_error_event() -> None:
    async with api_server() as api:
        for i in range(3):
            await api.create(CMS, cm(f"c{i}"))
        await api.store.compact(await api.store.current_revision())
        events = await api.lines(CMS, resourceVersion="1")
        assert len(events) == 1 and events[0]["type"] == "ERROR"
        status = events[0]["object"]
        assert status["code"] == 410 and status["reason"] == "Expired"
        future = await api.lines(CMS, resourceVersion="999")
        assert future[0]["type"] == "ERROR" and future[0]["object"]["code"] == 504


async def test_compacted_start_is_gone_even_when_the_shared_watch_remembers_it() -> None:
    async with api_server() as api:
        start = await api.store.current_revision()
        # A first watch starts the resource's shared watch, which then remembers events.
        first = await api.lines(CMS, resourceVersion=str(start), timeoutSeconds="1")
        assert first == []
        for i in range(3):
            await api.create(CMS, cm(f"r{i}"))
        await asyncio.sleep(0.1)  # the shared watch takes the events in before compaction
        await api.store.compact(await api.store.current_revision() - 1)
        events = await api.lines(CMS, resourceVersion=str(start + 1), timeoutSeconds="1")
        assert [e["type"] for e in events] == ["ERROR"]
        assert events[0]["object"]["code"] == 410
        head = await api.store.current_revision()
        fresh = await api.lines(CMS, resourceVersion=str(head - 1), timeoutSeconds="1")
        assert [e["object"]["metadata"]["name"] for e in fresh] == ["r2"]


async def test_watch_as_table_rows() -> None:
    async with api_server() as api:
        await api.create(CMS, cm("t", a="1"))
        resp = await api.http.get(
            CMS, params={"watch": "1", "timeoutSeconds": "1"},
            headers={"accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        )  # fmt: skip
        event = json.loads(resp.text.splitlines()[0])
        assert event["object"]["kind"] == "Table"
        assert event["object"]["rows"][0]["cells"][0] == "t"


async def test_live_events_and_periodic_bookmarks() -> None:
    async with api_server(bookmark_interval=0.05) as api:
        start = await api.store.current_revision()
        rt = api.ctx.registry.lookup("", "v1", "configmaps")
        assert rt is not None
        query = {"resourceVersion": str(start), "allowWatchBookmarks": "true",
                 "timeoutSeconds": "5"}  # fmt: skip
        lines = await watch_events(api.ctx, ApiRequest(rt, "default", "", "", query), _same)
        got: list[dict[str, Any]] = []

        async def consume() -> None:
            async for line in lines:
                got.append(json.loads(line))
                if any(e["type"] == "ADDED" for e in got) and got[-1]["type"] == "BOOKMARK":
                    return

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        await api.create(CMS, cm("live"))
        await asyncio.wait_for(task, 5)
        await lines.aclose()  # type: ignore[attr-defined]
        added = next(e for e in got if e["type"] == "ADDED")
        assert added["object"]["metadata"]["name"] == "live"
        assert int(got[-1]["object"]["metadata"]["resourceVersion"]) >= int(
            added["object"]["metadata"]["resourceVersion"]
        )


def _same(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return obj


async def test_open_watches_end_when_the_server_stops() -> None:
    async with api_server() as api:
        rt = api.ctx.registry.lookup("", "v1", "configmaps")
        assert rt is not None
        query = {"resourceVersion": "1", "allowWatchBookmarks": "true"}
        lines = await watch_events(api.ctx, ApiRequest(rt, "default", "", "", query), _same)

        async def drain() -> list[bytes]:
            return [line async for line in lines]

        task = asyncio.create_task(drain())
        await asyncio.sleep(0.05)
        api.ctx.stopping.set()
        got = await asyncio.wait_for(task, 5)
        assert json.loads(got[-1])["type"] == "BOOKMARK"


async def test_a_watch_that_ends_first_leaves_nothing_hooked_to_the_stop() -> None:
    """Each watch hooks a callback to the server's stop instead of keeping a task on it;
    a watch that ends (here, its lifetime) unhooks, and a watch opened after the stop
    ends at once."""
    async with api_server() as api:
        rt = api.ctx.registry.lookup("", "v1", "configmaps")
        assert rt is not None
        query = {"resourceVersion": "1", "timeoutSeconds": "1"}
        lines = await watch_events(api.ctx, ApiRequest(rt, "default", "", "", query))
        first = asyncio.create_task(anext(lines, None))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert len(api.ctx.stopping._hooks) == 1
        waiting = [t for t in asyncio.all_tasks() if "Event.wait" in repr(t.get_coro())]
        assert waiting == []  # no task of its own on the stop
        assert await asyncio.wait_for(first, 5) is None  # the lifetime ended it
        assert api.ctx.stopping._hooks == set()
        api.ctx.stopping.set()
        late = await watch_events(
            api.ctx, ApiRequest(rt, "default", "", "", {"resourceVersion": "1"})
        )
        assert [line async for line in late] == []


async def _answered(answer: Any, gone: asyncio.Event, chunks: list[bytes]) -> asyncio.Task[None]:
    """Run a watch's ASGI answer with a client that goes when `gone` is set."""
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            chunks.append(message["body"])

    return asyncio.create_task(answer({"type": "http"}, receive, send))


async def test_a_client_that_goes_ends_its_watch_without_a_cancellation() -> None:
    """The watch's answer ends its stream through the stream's queue when the client
    goes: the stream returns (no CancelledError thrown into it, nothing left for the
    cyclic garbage collector), unhooks from the stop, and sends no closing bookmark."""
    from k3os.apiserver.app import _WatchAnswer
    from k3os.apiserver.watch import WatchEnd

    async with api_server() as api:
        rt = api.ctx.registry.lookup("", "v1", "configmaps")
        assert rt is not None
        start = str(await api.store.current_revision())
        query = {"resourceVersion": start, "allowWatchBookmarks": "true"}
        end = WatchEnd()
        lines = await watch_events(api.ctx, ApiRequest(rt, "default", "", "", query), None, end)
        how: list[str] = []

        async def recorded() -> AsyncIterator[bytes]:
            try:
                async for line in lines:
                    yield line
                how.append("returned")
            except BaseException as e:
                how.append(type(e).__name__)
                raise

        gone, chunks = asyncio.Event(), []
        task = await _answered(_WatchAnswer(recorded(), end), gone, chunks)
        await asyncio.sleep(0.05)
        await api.create(CMS, cm("seen"))
        for _ in range(100):
            if chunks:
                break
            await asyncio.sleep(0.02)
        assert [json.loads(c)["type"] for c in chunks] == ["ADDED"]
        gone.set()
        await asyncio.wait_for(task, 5)
        assert how == ["returned"]
        assert len(chunks) == 1  # no closing bookmark for a client that has gone
        assert api.ctx.stopping._hooks == set()


async def test_a_watch_that_ends_first_stops_listening_for_its_client() -> None:
    """A watch that reaches its deadline completes its answer; a client that has not
    gone by then (the in-process one tells nothing) leaves no listener behind."""
    from k3os.apiserver.app import _WatchAnswer
    from k3os.apiserver.watch import WatchEnd

    async with api_server() as api:
        rt = api.ctx.registry.lookup("", "v1", "configmaps")
        assert rt is not None
        query = {"resourceVersion": "1", "timeoutSeconds": "1"}
        end = WatchEnd()
        lines = await watch_events(api.ctx, ApiRequest(rt, "default", "", "", query), None, end)
        gone, chunks = asyncio.Event(), []
        task = await _answered(_WatchAnswer(lines, end), gone, chunks)
        await asyncio.wait_for(task, 5)
        await asyncio.sleep(0)
        listening = [t for t in asyncio.all_tasks() if "_until_gone" in repr(t.get_coro())]
        assert listening == []
        assert not end.ended


async def test_a_watch_from_a_listed_revision_waits_for_the_watches_to_catch_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A list answers from the store's committed state, which may be a write ahead of
    what this process's watches have been told (SQLite's writer commits first): a watch
    from the list's revision waits for it instead of ending with "too large resource
    version" (kubectl's `get --watch` stopped on that ERROR, now and then)."""
    async with api_server() as api:
        rt = api.ctx.registry.lookup("", "v1", "configmaps")
        assert rt is not None
        await api.create(CMS, cm("listed"))
        head = await api.store.current_revision()
        real = api.store.current_revision
        behind = {"calls": 0}

        async def lagging() -> int:  # the hub is told of the last commit a moment later
            behind["calls"] += 1
            return head - 1 if behind["calls"] <= 3 else await real()

        monkeypatch.setattr(api.store, "current_revision", lagging)
        query = {"resourceVersion": str(head), "timeoutSeconds": "30"}
        lines = await watch_events(api.ctx, ApiRequest(rt, "default", "", "", query))
        first = asyncio.create_task(anext(lines))  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        await api.create(CMS, cm("after"))
        event = json.loads(await asyncio.wait_for(first, 5))
        assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "after"
        assert behind["calls"] > 3
        await lines.aclose()  # type: ignore[attr-defined]


async def test_a_watch_from_a_revision_never_reached_ends_with_too_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from k3os.apiserver import context

    monkeypatch.setattr(context, "FRESH_WAIT", 0.05)
    async with api_server() as api:
        rt = api.ctx.registry.lookup("", "v1", "configmaps")
        assert rt is not None
        head = await api.store.current_revision()
        query = {"resourceVersion": str(head + 5)}
        lines = await watch_events(api.ctx, ApiRequest(rt, "default", "", "", query))
        got = [json.loads(line) async for line in lines]
        assert [e["type"] for e in got] == ["ERROR"]
        assert got[0]["object"]["code"] == 504
        assert "Too large resource version" in got[0]["object"]["message"]


async def test_a_client_that_cannot_be_heard_ends_its_watch() -> None:
    from k3os.apiserver.app import _WatchAnswer
    from k3os.apiserver.watch import WatchEnd

    async with api_server() as api:
        rt = api.ctx.registry.lookup("", "v1", "configmaps")
        assert rt is not None
        end = WatchEnd()
        query = {"resourceVersion": "1", "timeoutSeconds": "30"}
        lines = await watch_events(api.ctx, ApiRequest(rt, "default", "", "", query), None, end)

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(0.05)
            raise RuntimeError("the connection's state is gone")

        async def send(message: dict[str, Any]) -> None:
            return None

        answer = _WatchAnswer(lines, end)
        await asyncio.wait_for(answer({"type": "http"}, receive, send), 5)
        assert end.ended


def test_stopping_calls_each_hook_once() -> None:
    from k3os.apiserver.context import Stopping

    calls: list[str] = []
    stopping = Stopping()
    stopping.when_set(lambda: calls.append("a"))
    unhook = stopping.when_set(lambda: calls.append("b"))
    unhook()
    stopping.set()
    stopping.set()
    assert calls == ["a"] and stopping.is_set()
    stopping.when_set(lambda: calls.append("c"))()  # already set: called at once
    assert calls == ["a", "c"]


async def test_a_reader_that_falls_too_far_behind_is_cut_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import k3os.apiserver.watch as watch_module
    from k3os.apiserver import broadcast

    monkeypatch.setattr(broadcast, "BACKLOG", 3)
    monkeypatch.setattr(watch_module, "BACKLOG", 3)
    async with api_server() as api:
        rt = api.ctx.registry.lookup("", "v1", "configmaps")
        assert rt is not None
        start = str(await api.store.current_revision())
        query = {"resourceVersion": start, "timeoutSeconds": "30"}
        lines = await watch_events(api.ctx, ApiRequest(rt, "default", "", "", query))
        first = asyncio.create_task(anext(lines))  # type: ignore[arg-type]
        await api.create(CMS, cm("first"))
        await asyncio.wait_for(first, 5)
        for i in range(10):  # nobody reads meanwhile
            await api.create(CMS, cm(f"n{i}"))
        await asyncio.sleep(0.1)
        rest = [line async for line in lines]  # ends instead of waiting 30 s
        assert 0 < len(rest) < 10


async def test_later_watches_replay_from_the_shared_watch() -> None:
    async with api_server() as api:
        first = await api.lines(CMS, timeoutSeconds="1")  # starts the shared watch
        assert first == []
        rv = (await api.http.get(CMS)).json()["metadata"]["resourceVersion"]
        await api.create(CMS, cm("r1"))
        await api.create("/api/v1/namespaces/kube-system/configmaps", cm("other", "kube-system"))
        await api.create(CMS, cm("r2"))
        events = await api.lines(CMS, resourceVersion=rv, timeoutSeconds="1")
        assert [e["object"]["metadata"]["name"] for e in events] == ["r1", "r2"]
        everywhere = await api.lines("/api/v1/configmaps", resourceVersion=rv, timeoutSeconds="1")
        assert len(everywhere) == 3


async def test_the_shared_watch_remembers_a_bounded_past() -> None:
    from k3os.apiserver.broadcast import Broadcaster
    from k3os.store import StoreUnavailable, open_store

    store = await open_store("memory://")
    hub = Broadcaster(store, "/k/", keep=2)
    await hub.start()
    start = hub.covered_from
    for i in range(4):
        await store.create(f"/k/{i}", b"v")
    await asyncio.sleep(0.05)
    assert hub.subscribe("/k/", start) is None  # evicted: the caller reads the store
    recent = hub.subscribe("/k/", start + 2)
    assert recent is not None and recent.queue.qsize() == 2
    await store.close()
    await asyncio.sleep(0.05)
    assert hub.failed
    got = [recent.queue.get_nowait() for _ in range(3)]
    assert [e.kv.key for e in got[:2]] == ["/k/2", "/k/3"]  # type: ignore[union-attr]
    assert isinstance(got[2], StoreUnavailable)  # the end of the shared watch
    assert hub.subscribe("/k/", start + 4) is None  # a failed hub takes no one
    recent.close()
