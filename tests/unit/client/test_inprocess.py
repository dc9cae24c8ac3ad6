"""InProcessTransport against small ASGI apps: the scope it builds, answers streamed chunk
by chunk, disconnect and cancellation, timeouts, and app failures turned into 500s and
read errors; and the dict-level client (requests, watches) on top of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx2
import pytest

from k3os.client import Kube
from k3os.client import inprocess as inproc
from k3os.client.errors import ClientError, NotFoundError, TransportError
from k3os.client.inprocess import InProcessKube, InProcessTransport
from k3os.client.kubeconfig import ClientConfig, Cluster, User
from k3os.client.resources import CONFIG_MAPS

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def start(send: Send, status: int = 200, ctype: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype)]})  # fmt: skip


def client(app: Any, **kw: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=InProcessTransport(app), base_url="https://api.test:6443", **kw
    )


async def test_request_and_response_carry_everything() -> None:
    seen: dict[str, Any] = {}

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        seen.update(scope=dict(scope), body=message["body"])
        await start(send, 201)
        await send({"type": "http.response.body", "body": b'{"ok":', "more_body": True})
        await send({"type": "http.response.body", "body": b"true}"})

    async with client(echo) as http:
        resp = await http.post(
            "/api/v1/namespaces/a%20b/configmaps",
            params={"fieldManager": "t"},
            content=b"hello",
            headers={"X-Thing": "1"},
        )
    assert resp.status_code == 201 and resp.json() == {"ok": True}
    assert resp.headers["content-type"] == "application/json"
    scope = seen["scope"]
    assert seen["body"] == b"hello"
    assert scope["method"] == "POST" and scope["scheme"] == "https"
    assert scope["path"] == "/api/v1/namespaces/a b/configmaps"
    assert scope["raw_path"] == b"/api/v1/namespaces/a%20b/configmaps"
    assert scope["query_string"] == b"fieldManager=t"
    assert (b"x-thing", b"1") in scope["headers"]
    assert scope["server"] == ("api.test", 6443) and scope["state"] == {}
    assert scope["asgi"]["spec_version"] == "2.3"


async def test_default_port_and_head_has_no_body() -> None:
    ports: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        ports.append(scope["server"])
        await start(send)
        await send({"type": "http.response.body", "body": b"ignored"})

    async with httpx2.AsyncClient(transport=InProcessTransport(app)) as http:
        resp = await http.head("https://api.test/x")
        assert resp.status_code == 200 and resp.content == b""
        await http.get("http://api.test/x")
    assert ports == [("api.test", 443), ("api.test", 80)]


async def test_chunks_arrive_as_the_app_sends_them() -> None:
    step = asyncio.Event()
    ended = asyncio.Event()

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await start(send)
        await send({"type": "http.response.body", "body": b"one\n", "more_body": True})
        await step.wait()  # the client must have the first line before the second exists
        await send({"type": "http.response.body", "body": b"two\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        ended.set()

    async with client(stream) as http, http.stream("GET", "/watch") as resp:
        lines = resp.aiter_lines()
        assert await anext(lines) == "one"
        step.set()
        assert await anext(lines) == "two"
        with pytest.raises(StopAsyncIteration):
            await anext(lines)
    assert ended.is_set()


async def test_closing_early_sends_disconnect_and_ends_the_app() -> None:
    got: list[str] = []
    done = asyncio.Event()

    async def watch(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # the (empty) request body
        await start(send)
        await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        got.append((await receive())["type"])
        await send({"type": "http.response.body", "body": b"unheard", "more_body": True})
        done.set()

    transport = InProcessTransport(watch)
    async with (
        httpx2.AsyncClient(transport=transport, base_url="https://api") as http,
        http.stream("GET", "/w") as resp,
    ):
        async for line in resp.aiter_lines():
            assert line == "first"
            break
    assert got == ["http.disconnect"] and done.is_set()
    assert not transport._tasks


async def test_an_app_deaf_to_disconnect_is_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inproc, "DISCONNECT_GRACE", 0.01)
    cancelled = asyncio.Event()

    async def deaf(scope: Scope, receive: Receive, send: Send) -> None:
        await start(send)
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with client(deaf) as http, http.stream("GET", "/w") as resp:
        assert await anext(resp.aiter_bytes()) == b"x"
    assert cancelled.is_set()


async def test_a_fast_app_waits_for_a_slow_reader() -> None:
    sent = 0

    async def flood(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal sent
        await start(send)
        for i in range(inproc.MAX_AHEAD * 3):
            await send({"type": "http.response.body", "body": b"%d\n" % i, "more_body": True})
            sent += 1
        await send({"type": "http.response.body", "body": b""})

    async with client(flood) as http, http.stream("GET", "/f") as resp:
        await asyncio.sleep(0.01)
        assert sent <= inproc.MAX_AHEAD  # the app waits until the reader catches up
        lines = [line async for line in resp.aiter_lines()]
    assert lines == [str(i) for i in range(inproc.MAX_AHEAD * 3)]


async def test_app_failures_look_like_a_server_s() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    async def breaks_midway(scope: Scope, receive: Receive, send: Send) -> None:
        await start(send)
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        if scope["path"] == "/raise":
            raise RuntimeError("midway")

    async def twice(scope: Scope, receive: Receive, send: Send) -> None:
        await start(send)
        await start(send)

    async with client(broken) as http:
        resp = await http.get("/x")
        assert resp.status_code == 500 and resp.text == "Internal Server Error"
    async with client(silent) as http:
        assert (await http.get("/x")).status_code == 500
    async with client(breaks_midway) as http:
        with pytest.raises(httpx2.ReadError, match="midway"):
            await http.get("/raise")
        with pytest.raises(httpx2.ReadError, match="early"):
            await http.get("/return")
    async with client(twice) as http:
        with pytest.raises(httpx2.ReadError, match="twice"):
            await http.get("/x")


async def test_body_before_start_is_an_error() -> None:
    async def bad(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.body", "body": b"x"})

    async with client(bad) as http:
        assert (await http.get("/x")).status_code == 500


async def test_read_timeouts() -> None:
    hold = asyncio.Event()

    async def slow_start(scope: Scope, receive: Receive, send: Send) -> None:
        await hold.wait()

    async def slow_body(scope: Scope, receive: Receive, send: Send) -> None:
        await start(send)
        await hold.wait()

    async with client(slow_start, timeout=0.02) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get("/x")
    async with client(slow_body, timeout=0.02) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get("/x")


async def test_a_caller_giving_up_leaves_the_app_to_finish_unheard() -> None:
    release = asyncio.Event()
    finished = asyncio.Event()

    async def write(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await start(send)
        await send({"type": "http.response.body", "body": b"{}"})
        finished.set()

    transport = InProcessTransport(write)
    async with httpx2.AsyncClient(transport=transport, base_url="https://api") as http:
        call = asyncio.create_task(http.post("/x", content=b"{}"))
        await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        release.set()
        await asyncio.wait_for(finished.wait(), 5)


async def test_closing_the_transport_cancels_leftovers() -> None:
    async def forever(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    transport = InProcessTransport(forever)
    http = httpx2.AsyncClient(transport=transport, base_url="https://api")
    call = asyncio.create_task(http.get("/x"))
    await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert transport._tasks
    await http.aclose()
    assert not transport._tasks
    with pytest.raises(httpx2.ConnectError):
        await transport.handle_async_request(httpx2.Request("GET", "https://api/x"))


async def test_kube_requests_and_watches_over_it() -> None:
    async def api(scope: Scope, receive: Receive, send: Send) -> None:
        body = (await receive())["body"]
        await start(send)
        if b"watch=true" in scope["query_string"]:
            for name in ("a", "b"):
                event = {"type": "ADDED", "object": {"metadata": {"name": name}}}
                line = json.dumps(event).encode() + b"\n"
                await send({"type": "http.response.body", "body": line, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.body", "body": body or b'{"kind":"ConfigMap"}'})

    config = ClientConfig(Cluster(server="https://api.test"), User(token="x"))
    async with Kube(config, transport=InProcessTransport(api)) as kube:
        made = await kube.create(CONFIG_MAPS, {"metadata": {"name": "c"}}, "ns")
        assert made["metadata"] == {"name": "c"}
        assert (await kube.get(CONFIG_MAPS, "c", "ns")) == {"kind": "ConfigMap"}
        names = [e.object["metadata"]["name"] async for e in kube.watch(CONFIG_MAPS, "ns")]
        assert names == ["a", "b"]


async def test_the_inline_client_runs_the_app_in_the_callers_task() -> None:
    seen: list[dict[str, Any]] = []

    async def api(scope: Scope, receive: Receive, send: Send) -> None:
        body = (await receive())["body"]
        seen.append({**scope, "body": body, "task": asyncio.current_task()})
        if scope["path"].endswith("/missing"):
            await start(send, 404)
            await send({"type": "http.response.body", "body": json.dumps(
                {"kind": "Status", "reason": "NotFound", "code": 404, "message": "gone"}
            ).encode()})  # fmt: skip
            return
        if b"watch=true" in scope["query_string"]:
            await start(send)
            line = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "w"}}}) + "\n"
            await send({"type": "http.response.body", "body": line.encode()})
            return
        payload = body or b'{"kind":"ConfigMap"}'
        await start(send, 201)
        await send({"type": "http.response.body", "body": payload[:5], "more_body": True})
        await send({"type": "http.response.body", "body": payload[5:]})

    config = ClientConfig(Cluster(server="https://api.test:6443"), User(token="x"))
    async with InProcessKube(config, api, field_manager="fm") as kube:
        made = await kube.create(CONFIG_MAPS, {"metadata": {"name": "c"}}, "a b")
        assert made["metadata"] == {"name": "c"}
        scope = seen[-1]
        assert scope["task"] is asyncio.current_task()  # inline: no task of its own
        assert scope["method"] == "POST" and scope["scheme"] == "https"
        assert scope["path"] == "/api/v1/namespaces/a b/configmaps"
        assert scope["raw_path"] == b"/api/v1/namespaces/a%20b/configmaps"
        assert scope["query_string"] == b"fieldManager=fm"
        assert scope["server"] == ("api.test", 6443)
        headers = dict(scope["headers"])
        assert headers[b"authorization"] == b"Bearer x"  # the config's credentials
        assert headers[b"content-type"] == b"application/json"
        assert headers[b"content-length"] == str(len(scope["body"])).encode()
        assert headers[b"host"] == b"api.test:6443"
        assert await kube.request("GET", "/api/v1/x") == {"kind": "ConfigMap"}
        with pytest.raises(NotFoundError, match="gone"):
            await kube.request("GET", "/api/v1/missing")
        # Watches stream through the transport, in a task of their own.
        names = [e.object["metadata"]["name"] async for e in kube.watch(CONFIG_MAPS, "ns")]
        assert names == ["w"] and seen[-1]["task"] is not asyncio.current_task()
    with pytest.raises(TransportError, match="closed"):
        await kube.request("GET", "/api/v1/x")


async def test_the_inline_client_answers_failures_as_a_server_would(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def api(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == "/early":
            raise RuntimeError("boom")
        if path == "/silent":
            return
        if path == "/slow":
            await receive()  # the body
            await receive()  # then nothing: the client waits until the app is done
        await start(send)
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        if path == "/midway":
            raise RuntimeError("broke mid-body")

    config = ClientConfig(Cluster(server="https://api.test"), User(token="x"))
    async with InProcessKube(config, api, timeout=0.05) as kube:
        with pytest.raises(ClientError) as early:
            await kube.request("GET", "/early")
        assert not isinstance(early.value, TransportError) and "500" in str(early.value)
        assert "in-process request GET /early failed" in caplog.text
        with pytest.raises(ClientError, match="500"):
            await kube.request("GET", "/silent")
        with pytest.raises(TransportError, match="broke mid-body"):
            await kube.request("GET", "/midway")
        with pytest.raises(TransportError, match="ended its response early"):
            await kube.request("GET", "/short")
        with pytest.raises(TransportError, match=r"no answer in 0\.05s"):
            await kube.request("GET", "/slow")


async def test_the_inline_clients_watch_reads_the_apps_chunks_as_lines() -> None:
    """A watch of the in-process client takes the app's body chunks straight, split into
    lines (a line across chunks, several in one, the last without a newline); an error
    status raises its Status; a failure mid-stream and a silent app are transport errors;
    leaving the watch early tells the app it was hung up on."""
    hung_up = asyncio.Event()

    def line(name: str) -> bytes:
        return json.dumps({"type": "ADDED", "object": {"metadata": {"name": name}}}).encode()

    async def api(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        query = scope["query_string"]
        if b"gone" in query:
            await start(send, 410)
            status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
            await send({"type": "http.response.body", "body": json.dumps(status).encode()})
            return
        await start(send)
        body = line("a") + b"\n" + line("b")[:7]
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": line("b")[7:] + b"\n\n" + line("c"),
                    "more_body": True})  # fmt: skip
        if b"broken" in query:
            raise RuntimeError("the store went away")
        if b"long" in query:
            assert (await receive())["type"] == "http.disconnect"
            hung_up.set()
            return
        if b"silent" in query:
            await asyncio.sleep(60)
        await send({"type": "http.response.body", "body": b""})

    config = ClientConfig(Cluster(server="https://api.test"), User(token="x"))
    async with InProcessKube(config, api, timeout=0.05) as kube:

        async def names(selector: str) -> list[str]:
            watch = kube.watch(CONFIG_MAPS, "ns", label_selector=selector)
            return [e.object["metadata"]["name"] async for e in watch]

        assert await names("plain") == ["a", "b", "c"]
        with pytest.raises(ClientError, match="too old") as gone:
            await names("gone")
        assert not isinstance(gone.value, TransportError)
        with pytest.raises(TransportError, match="the store went away"):
            await names("broken")
        async for event in kube.watch(CONFIG_MAPS, "ns", label_selector="long"):
            assert event.object["metadata"]["name"] == "a"
            break
        await asyncio.wait_for(hung_up.wait(), 5)
        with pytest.raises(TransportError, match="ReadTimeout"):
            async for _ in kube.watch(CONFIG_MAPS, "ns", label_selector="silent",
                                      timeout_seconds=0):  # fmt: skip
                pass
        assert not kube._http._transport._tasks  # type: ignore[attr-defined]
