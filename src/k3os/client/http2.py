"""HTTP/2 under the API client: one TLS connection per server for all of a client's requests
and watches, framed by zttp (a compiled HTTP/1.1 and HTTP/2 engine, the one uvicorn serves
HTTP/2 with).

Why: an agent holds two watches and makes its requests beside them. Over HTTP/1.1 that is
three connections, so three TLS handshakes with its client certificate every time it comes
back from a reboot; at a hundred upgrading nodes a second those handshakes were a large part
of the server's CPU (docs/benchmarks.md, Fleet). Over HTTP/2 it is one.

Why not httpx2's own HTTP/2 (h2, in Python): its connection holds one read lock across a
blocking read, so a request body waiting for flow-control window can wait behind a watch
that has nothing to read, until that watch's read timeout (pydantic/httpx2#1133 describes
it; it was reproduced here with two informers and a 200 kB create).

`Http2Transport` is an `httpx2.AsyncBaseTransport`: authentication, redirects, timeouts and
the client's error mapping stay httpx2's. When the server does not choose HTTP/2 by ALPN,
the transport hands every request to an ordinary HTTP/1.1 transport from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import zttp

__all__ = ["H2Connection", "H2Stream", "Http2Transport"]

# Not allowed in HTTP/2 (RFC 9113 8.2.2); httpx2 may add some for HTTP/1.1.
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)


# Requests that do no harm when the server saw them before the connection went.
_REPEATABLE = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class H2Stream:
    """One stream's answer as it arrives: the head, then body pieces, then None (the end)
    or the error that ended it."""

    __slots__ = ("head", "pieces")

    def __init__(self) -> None:
        self.head: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.pieces: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()

    def fail(self, error: Exception) -> None:
        if not self.head.done():
            self.head.set_exception(error)
            self.head.exception()  # retrieved: nobody may be waiting for it any more
        self.pieces.put_nowait(error)


class H2Connection(asyncio.Protocol):
    """The client side of one HTTP/2 connection. zttp parses and frames, and keeps the
    flow-control windows: body bytes past the peer's window wait inside it and leave when
    the peer's WINDOW_UPDATE arrives (written by `data_received`)."""

    def __init__(self) -> None:
        self.h2 = zttp.Connection(zttp.CLIENT, protocol=zttp.HTTP2)
        self.streams: dict[int, H2Stream] = {}
        self.transport: asyncio.Transport | None = None
        self.closed = False  # no new streams: lost, or the server said GOAWAY
        self.ended = False  # the socket is gone
        self.heard = 0.0  # loop time of the last bytes from the server
        self.lost = asyncio.Event()  # the transport is done with the socket

    @property
    def usable(self) -> bool:
        transport = self.transport
        return not self.closed and transport is not None and not transport.is_closing()

    async def still_open(self) -> bool:
        """Whether the connection is still there, as far as can be known before sending.
        Bytes (or the end) waiting on the socket are let in first, so that a server that
        went away while nothing ran on this loop (it says so by closing the socket) is
        noticed before a request that may not be sent twice goes out on the dead one."""
        sock = self.transport.get_extra_info("socket") if self.transport else None
        for _ in range(5):
            if sock is None or not self.usable or sock.fileno() < 0:
                break
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                break
            await asyncio.sleep(0)
        return self.usable

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.h2.initiate_connection()
        self.flush()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.heard = asyncio.get_running_loop().time()
        try:
            self.h2.receive_data(data)
            while (event := self.h2.next_event()) is not zttp.NEED_DATA:
                self._dispatch(event)
        except zttp.ProtocolError as e:
            self._lose(httpx2.RemoteProtocolError(f"HTTP/2: {e}"))
            return
        self.flush()

    def _dispatch(self, event: Any) -> None:
        if isinstance(event, zttp.Response):
            stream = self.streams.get(event.stream_id)
            if stream is not None and not stream.head.done():
                headers = event.headers
                fields = (
                    headers.to_list(lowercase_names=True)
                    if isinstance(headers, zttp.HeaderBlock)
                    else [(k.lower(), v) for k, v in headers]
                )
                stream.head.set_result((event.status_code, fields))
        elif isinstance(event, zttp.Data):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.pieces.put_nowait(event.data)
        elif isinstance(event, zttp.EndOfMessage):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                stream.pieces.put_nowait(None)
        elif isinstance(event, zttp.RstStream):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                stream.fail(httpx2.RemoteProtocolError(f"the server reset stream {event!r}"))
        elif isinstance(event, (zttp.GoAway, zttp.ConnectionClosed)):
            self.closed = True  # streams the server accepted may still finish

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()
        self._lose(httpx2.ReadError(f"connection lost: {exc!r}" if exc else "connection closed"))

    def _lose(self, error: Exception) -> None:
        self.closed = self.ended = True
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            stream.fail(error)
        if self.transport is not None:
            self.transport.close()

    def open(
        self, method: bytes, target: bytes, fields: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[int, H2Stream]:
        """Send a request: `fields` are its header fields, lowercase, `host` among them."""
        handle = self.h2.send_request(method, target, b"2", fields)
        stream = self.streams[handle.stream_id] = H2Stream()
        if body:
            handle.send_data(body)
        handle.end_message()
        self.flush()
        return handle.stream_id, stream

    def cancel(self, stream_id: int) -> None:
        """Stop a stream the caller no longer reads (a watch given up)."""
        if self.streams.pop(stream_id, None) is not None and not self.ended:
            with contextlib.suppress(zttp.ProtocolError):
                self.h2.stream(stream_id).reset()
            self.flush()

    def timed_out(self, stream_id: int, since: float) -> None:
        """A stream heard nothing in time. If the whole connection was silent too, the
        server or the path to it is gone without a word (a box's link dropped): the
        connection is given up, so its watches and the next requests start over on a new
        one rather than wait for TCP to notice. Otherwise only the stream is."""
        if self.heard < since:
            self._lose(httpx2.ReadTimeout("the connection went silent"))
        else:
            self.cancel(stream_id)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None and not self.ended:
            with contextlib.suppress(zttp.ProtocolError):
                self.h2.close()
            self.flush()
            self.transport.close()


class _Body(httpx2.AsyncByteStream):
    """A response body read from its stream; closed early, the stream is reset."""

    def __init__(self, conn: H2Connection, stream_id: int, stream: H2Stream, read: float | None):
        self._conn = conn
        self._id = stream_id
        self._stream = stream
        self._read = read

    async def __aiter__(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        while True:
            since = loop.time()
            try:
                async with asyncio.timeout(self._read):
                    piece = await self._stream.pieces.get()
            except TimeoutError:
                self._conn.timed_out(self._id, since)
                raise httpx2.ReadTimeout("no data from the server in time") from None
            if piece is None:
                return
            if isinstance(piece, Exception):
                raise piece
            yield piece

    async def aclose(self) -> None:
        self._conn.cancel(self._id)


def _fields(request: httpx2.Request) -> list[tuple[bytes, bytes]]:
    fields = [(b"host", request.url.netloc)]
    for name, value in request.headers.raw:
        name = name.lower()
        if name not in _HOP_BY_HOP and name != b"host":
            fields.append((name, value))
    return fields


class Http2Transport(httpx2.AsyncBaseTransport):
    """Requests to one HTTPS server over a single HTTP/2 connection, opened on first use and
    again after it is lost; HTTP/1.1 (`httpx2.AsyncHTTPTransport`) when the server does not
    offer HTTP/2."""

    def __init__(self, verify: ssl.SSLContext, *, limits: httpx2.Limits) -> None:
        self._ssl = verify
        self._limits = limits
        self._conn: H2Connection | None = None
        self._connecting = asyncio.Lock()
        self._http1: httpx2.AsyncHTTPTransport | None = None
        self.connections_opened = 0  # HTTP/2 connections, for a look from outside

    @property
    def protocol(self) -> str:
        """What the server was found to speak: "h2", "http/1.1", or "" before the first
        request."""
        return "http/1.1" if self._http1 is not None else "h2" if self._conn else ""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._http1 is not None:
            return await self._http1.handle_async_request(request)
        timeouts = request.extensions.get("timeout", {})
        body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        for attempt in range(2):
            conn, fresh = await self._connection(request, timeouts.get("connect"))
            if conn is None:  # the server spoke HTTP/1.1
                assert self._http1 is not None
                return await self._http1.handle_async_request(request)
            since = asyncio.get_running_loop().time()
            stream_id, stream = conn.open(request.method.encode(), request.url.raw_path,
                                          _fields(request), body)  # fmt: skip
            try:
                async with asyncio.timeout(timeouts.get("read")):
                    status, headers = await stream.head
            except TimeoutError:
                conn.timed_out(stream_id, since)
                raise httpx2.ReadTimeout("no answer from the server in time") from None
            except httpx2.ReadError:
                # A connection the server closed while it sat idle: once more on a new one,
                # for a request that may be sent twice (a create or a patch may not).
                if attempt == 0 and not fresh and request.method in _REPEATABLE:
                    continue
                raise
            except BaseException:
                conn.cancel(stream_id)
                raise
            return httpx2.Response(
                status,
                headers=headers,
                stream=_Body(conn, stream_id, stream, timeouts.get("read")),
                extensions={"http_version": b"HTTP/2"},
            )
        raise AssertionError("unreachable")

    async def _connection(
        self, request: httpx2.Request, connect_timeout: float | None
    ) -> tuple[H2Connection | None, bool]:
        async with self._connecting:
            if self._conn is not None and self._conn.usable and await self._conn.still_open():
                return self._conn, False
            if self._http1 is not None:
                return None, False
            url = request.url
            loop = asyncio.get_running_loop()
            self._ssl.set_alpn_protocols(["h2", "http/1.1"])
            try:
                async with asyncio.timeout(connect_timeout):
                    transport, conn = await loop.create_connection(
                        H2Connection, url.host, url.port or 443, ssl=self._ssl,
                        server_hostname=url.host,
                    )  # fmt: skip
            except TimeoutError:
                raise httpx2.ConnectTimeout(f"connect {url.host}:{url.port}: timed out") from None
            except (OSError, ssl.SSLError) as e:
                raise httpx2.ConnectError(f"connect {url.host}:{url.port}: {e}") from e
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
                transport.close()
                self._http1 = httpx2.AsyncHTTPTransport(verify=self._ssl, limits=self._limits)
                return None, False
            self._conn = conn
            self.connections_opened += 1
            return conn, True

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            conn.close()
            try:  # TLS says goodbye (close_notify) before the socket closes
                async with asyncio.timeout(2.0):
                    await conn.lost.wait()
            except TimeoutError:
                conn.transport.abort()
        if self._http1 is not None:
            await self._http1.aclose()
