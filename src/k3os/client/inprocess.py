"""An httpx2 transport that hands requests straight to an ASGI application in this process.

`k3os server` runs its controller manager on the same event loop as its API; over HTTPS
every controller request and every watch event paid TLS on both ends, a socket and HTTP
parsing. `InProcessTransport(app)` builds the ASGI scope from the `httpx2.Request`, runs
the app in a task and answers as soon as the app starts its response, with a body stream
fed chunk by chunk as the app sends (so watches stream, unlike httpx2's own
`ASGITransport`, which waits for the whole body). Closing the response early (or a read
timing out) tells the app `http.disconnect` and ends its task; an app that fails before
answering becomes a 500, one that fails mid-body a `ReadError`, as over the network.

The transport adds no credentials: who the requests are is up to the app it is given
(the server wraps its app so the scope carries its controllers' identity).

`InProcessKube` goes one step further for the requests that are not watches: it runs the
app inline, in the caller's own task, and collects the answer. No httpx2 request or
response is built, and no task, future or queue stands between the caller and the app, so
a controller's write waits for the loop only where the app itself waits (the store's
commit). In a fleet's rollout the loop's turns are long (hundreds of agents' requests in
each), and the Plan controller's hand-off is a chain of such writes: every hop saved is a
turn its next node does not wait. A watch runs the app in a task of the transport's, as a
streamed request does, and reads its body chunks as byte lines (no httpx2 response, no
decoding to text).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import httpx2

from k3os.client.errors import TransportError, status_error
from k3os.client.kube import Kube
from k3os.client.kubeconfig import ClientConfig

__all__ = ["ASGIApp", "InProcessKube", "InProcessTransport"]

log = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

#: Body chunks the app may send ahead of the reader before its `send` waits (as a socket's
#: buffers would make it).
MAX_AHEAD = 64
#: How long an app told `http.disconnect` may take to return before it is cancelled.
DISCONNECT_GRACE = 1.0

_END = object()
_ERROR_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]


class _Exchange:
    """One request: the app's task, what it has answered so far, and the reader's side."""

    def __init__(self, request: httpx2.Request, body: bytes) -> None:
        self.request = request
        self.body: bytes | None = body
        self.started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.chunks: asyncio.Queue[object] = asyncio.Queue()
        self.room = asyncio.Event()
        self.room.set()
        self.gone = asyncio.Event()  # the client disconnected
        self.complete = False  # the app sent its last body chunk
        self.task: asyncio.Task[None] | None = None

    # --- the app's side -----------------------------------------------------------------

    async def receive(self) -> Message:
        if self.body is not None and not self.gone.is_set():
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.gone.is_set():
            return  # as a server does once the client has gone: the app's words are dropped
        kind = message["type"]
        if kind == "http.response.start":
            if self.started.done():
                raise RuntimeError("http.response.start sent twice")
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            self.started.set_result((int(message["status"]), headers))
        elif kind == "http.response.body":
            if not self.started.done() or self.complete:
                raise RuntimeError("http.response.body outside a response")
            body = message.get("body", b"")
            if body and self.request.method != "HEAD":
                while self.chunks.qsize() >= MAX_AHEAD and not self.gone.is_set():
                    self.room.clear()
                    await self.room.wait()
                self.chunks.put_nowait(bytes(body))
            if not message.get("more_body", False):
                self.complete = True
                self.chunks.put_nowait(_END)

    async def run(self, app: ASGIApp, scope: MutableMapping[str, Any]) -> None:
        try:
            await app(scope, self.receive, self.send)
        except Exception as e:
            if not self.gone.is_set():
                log.exception("in-process request %s %s failed", scope["method"], scope["path"])
            self._fail(e)
        finally:
            if not self.started.done():  # cancelled, or returned without an answer
                self._answer_500()
            elif not self.complete:
                self._fail(httpx2.ReadError("the application ended its response early"))

    def _fail(self, error: BaseException) -> None:
        if not self.started.done():
            self._answer_500()
        elif not self.complete:
            self.complete = True
            self.chunks.put_nowait(error)

    def _answer_500(self) -> None:
        self.started.set_result((500, list(_ERROR_HEADERS)))
        self.complete = True
        self.chunks.put_nowait(b"Internal Server Error")
        self.chunks.put_nowait(_END)

    # --- the client's side --------------------------------------------------------------

    def disconnect(self) -> None:
        self.gone.set()
        self.room.set()

    async def next_chunk(self, read_timeout: float | None) -> object:
        if not self.chunks.empty():
            item = self.chunks.get_nowait()
        elif read_timeout is None:
            item = await self.chunks.get()
        else:
            try:
                async with asyncio.timeout(read_timeout):
                    item = await self.chunks.get()
            except TimeoutError:
                raise httpx2.ReadTimeout("read timed out", request=self.request) from None
        if not self.room.is_set():
            self.room.set()
        return item


class _Body(httpx2.AsyncByteStream):
    def __init__(self, transport: InProcessTransport, exchange: _Exchange, read: float | None):
        self._transport = transport
        self._exchange = exchange
        self._read = read
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in _chunks(self._exchange, self._read):
            yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._transport.hang_up(self._exchange)


class InProcessTransport(httpx2.AsyncBaseTransport):
    """Sends each request to `app` on this event loop; see the module docstring."""

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.app = app
        self.client = client
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def _scope(self, request: httpx2.Request) -> dict[str, Any]:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "server": (url.host, port),
            "client": self.client,
            "state": {},
            "extensions": {},
        }

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._closed:
            raise httpx2.ConnectError("the in-process transport is closed", request=request)
        exchange = _Exchange(request, await request.aread())
        timeouts = request.extensions.get("timeout") or {}
        read = timeouts.get("read")
        status, headers = await self.begin(exchange, self._scope(request), read)
        return httpx2.Response(
            status,
            headers=headers,
            stream=_Body(self, exchange, read),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def begin(
        self, exchange: _Exchange, scope: MutableMapping[str, Any], read: float | None
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Run the app for `exchange` in a task of its own; the status and headers once it
        answers (httpx2.ReadTimeout after `read` seconds without)."""
        if self._closed:
            raise httpx2.ConnectError(
                "the in-process transport is closed", request=exchange.request
            )
        task = asyncio.get_running_loop().create_task(
            exchange.run(self.app, scope), name="in-process-request"
        )
        exchange.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            if read is None:
                return await exchange.started
            async with asyncio.timeout(read):
                return await exchange.started
        except TimeoutError:
            await self.hang_up(exchange)
            raise httpx2.ReadTimeout(
                "timed out waiting for the response", request=exchange.request
            ) from None
        except BaseException:
            exchange.disconnect()  # the caller gave up: the app may finish, unheard (as a socket)
            raise

    async def hang_up(self, exchange: _Exchange) -> None:
        """The client is done with the response: an app still answering is told
        `http.disconnect`, and cancelled if it has not returned within DISCONNECT_GRACE."""
        exchange.disconnect()
        task = exchange.task
        if task is None or task.done() or exchange.complete:
            return
        try:
            await asyncio.wait({task}, timeout=DISCONNECT_GRACE)
        finally:
            if not task.done():
                task.cancel()
        await asyncio.wait({task})

    async def aclose(self) -> None:
        """Cancel what is still running (requests whose callers gave up)."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


class InProcessKube(Kube):
    """A `Kube` whose requests go to `app` on this event loop: each one-shot request runs
    the app inline (see the module docstring); watches run it in the transport's tasks."""

    def __init__(self, config: ClientConfig, app: ASGIApp, **kw: Any) -> None:
        super().__init__(config, transport=InProcessTransport(app), **kw)
        self._app = app
        self._server = urlsplit(config.cluster.server)

    async def _credentials(self, method: str, path: str) -> list[tuple[bytes, bytes]]:
        """The headers the client's auth puts on a request (none for a certificate user,
        such as the controller manager: the app gives it its identity)."""
        if self._auth is None:
            return []
        request = httpx2.Request(method, f"{self._server.scheme}://{self._server.netloc}{path}")
        flow = self._auth.async_auth_flow(request)
        request = await flow.__anext__()
        await flow.aclose()
        return [(b"authorization", v.encode()) for v in request.headers.get_list("authorization")]

    async def _scope(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: bytes,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": self._server.scheme or "https",
            "path": unquote(path),
            "raw_path": path.encode(),
            "query_string": urlencode(params or {}).encode(),
            "root_path": "",
            "headers": [
                (b"host", (self._server.netloc or "localhost").encode()),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in headers.items()),
                *await self._credentials(method, path),
            ],
            "server": (self._server.hostname or "localhost", self._server.port or 443),
            "client": ("127.0.0.1", 0),
            "state": {},
            "extensions": {},
        }

    @contextlib.asynccontextmanager
    async def _lines(
        self, path: str, params: dict[str, str], headers: dict[str, str], read_limit: float
    ) -> AsyncIterator[AsyncIterator[str | bytes]]:
        """A watch straight from the app's body chunks, split into lines as bytes: no
        httpx2 request or response, no decoding to text (`Kube.watch` parses bytes). The
        app runs in a task of the transport's own, as a streamed request through it does,
        and is hung up on the same way when the watch ends."""
        if self._http.is_closed:
            raise TransportError(f"GET {path}: the in-process client is closed")
        transport = self._http._transport
        assert isinstance(transport, InProcessTransport)
        scope = await self._scope("GET", path, params, b"", headers)
        stub = httpx2.Request("GET", f"{self._server.scheme}://{self._server.netloc}{path}")
        exchange = _Exchange(stub, b"")
        try:
            status, _ = await transport.begin(exchange, scope, read_limit)
            try:
                if status >= 400:
                    raise status_error(
                        status, b"".join([c async for c in _chunks(exchange, read_limit)])
                    )
                yield _split_lines(_chunks(exchange, read_limit))
            finally:
                await transport.hang_up(exchange)
        except httpx2.TransportError as e:
            raise TransportError(f"GET {path}: {e!r}") from e

    async def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes]:
        if self._http.is_closed:
            raise TransportError(f"{method} {path}: the in-process client is closed")
        body = content or b""
        scope = await self._scope(method, path, params, body, headers)
        answer = _Answer(body)
        try:
            async with asyncio.timeout(self._timeout):
                await self._app(scope, answer.receive, answer.send)
        except TimeoutError:
            raise TransportError(f"{method} {path}: no answer in {self._timeout:g}s") from None
        except Exception as e:
            if answer.status is None:  # as the transport answers an app that fails early
                log.exception("in-process request %s %s failed", method, path)
                return 500, b"Internal Server Error"
            raise TransportError(f"{method} {path}: the application failed: {e!r}") from e
        if answer.status is None:
            return 500, b"Internal Server Error"
        if not answer.complete:
            raise TransportError(f"{method} {path}: the application ended its response early")
        return answer.status, b"".join(answer.chunks)


async def _chunks(exchange: _Exchange, read: float | None) -> AsyncIterator[bytes]:
    """The app's body chunks (a transport error, or the app's failure as a ReadError,
    raised where it came), until its last."""
    while True:
        item = await exchange.next_chunk(read)
        if item is _END:
            return
        if isinstance(item, httpx2.TransportError):
            raise item
        if isinstance(item, BaseException):
            raise httpx2.ReadError(f"the application failed: {item!r}") from item
        assert isinstance(item, bytes)
        yield item


async def _split_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str | bytes]:
    """Lines of a byte stream (without their newline); a last line without one too."""
    rest = b""
    async for chunk in chunks:
        *lines, rest = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
        for line in lines:
            yield line
    if rest:
        yield rest


class _Answer:
    """The app's side of an inline request: the request body once, then nothing until the
    app is done; the response collected whole."""

    __slots__ = ("body", "chunks", "complete", "status")

    def __init__(self, body: bytes) -> None:
        self.body: bytes | None = body
        self.status: int | None = None
        self.chunks: list[bytes] = []
        self.complete = False

    async def receive(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Future()  # the client stays until the app has answered (then cancelled)
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("http.response.start sent twice")
            self.status = int(message["status"])
        elif kind == "http.response.body":
            if self.status is None or self.complete:
                raise RuntimeError("http.response.body outside a response")
            chunk = message.get("body", b"")
            if chunk:
                self.chunks.append(bytes(chunk))
            self.complete = not message.get("more_body", False)
