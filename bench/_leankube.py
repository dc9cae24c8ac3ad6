"""The fleet simulation's HTTP layer: `k3os.client.Kube` with its requests and watches made
over bare asyncio TLS instead of httpx2.

A simulated node runs the real agent's code (`NodeKeeper`, the informers, the Event
recorder), and all of it reaches the server through `Kube.request` and `Kube.watch`. Only
the HTTP layer under those two is replaced here (`Kube._exchange`, one request and its
answer, and `Kube._lines`, a streamed GET line by line), so every call, its path, query,
body, content type, error statuses and watch events are handled by the client's own code.
What goes is httpx2's per-request machinery (URL and request objects, the transport's
bookkeeping, anyio), which cost the load generator about as much CPU per upgraded node as
the server spent: on a two-core machine it took the server's CPU.

`LeanH2Kube` (the default) speaks as the agent does (`k3os.client.http2`): HTTP/2 over one
TLS connection with the node's own client certificate, its requests and both watches as
streams on it, framed by zttp as the agent's transport frames them; a reboot closes it.
`LeanKube` is the HTTP/1.1 of agents before HTTP/2 (`--client lean-h1`, a comparison):
keep-alive connections kept 25 s, one connection per watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2

from _lean import Conn
from k3os.client import Kube
from k3os.client.errors import TransportError, status_error
from k3os.client.http2 import H2Connection, H2Stream
from k3os.client.kubeconfig import ssl_context

KEEPALIVE = 25.0


class _Conn(Conn):
    """A keep-alive connection with the time it was last used (chunked bodies as `Conn`)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.used = time.monotonic()

    async def head(self) -> tuple[int, dict[bytes, bytes]]:  # type: ignore[override]
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def body(self, headers: dict[bytes, bytes]) -> bytes:
        if headers.get(b"transfer-encoding") == b"chunked":
            return b"".join([chunk async for chunk in self.chunks()])
        return await self.reader.readexactly(int(headers.get(b"content-length", b"0")))


class LeanKube(Kube):
    """`Kube` whose requests and watches go over bare TLS streams (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        url = urlsplit(self.server)
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or 443
        self._base = url.path.rstrip("/")
        self._ssl: ssl.SSLContext = ssl_context(self.config)
        self._idle: list[_Conn] = []
        self._open: set[_Conn] = set()
        #: Called each time a new connection's TLS handshake is done (the fleet's timing).
        self.on_connect: Callable[[], None] | None = None

    async def _connect(self) -> _Conn:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port, ssl=self._ssl, limit=1 << 22),
                self._timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError) as e:
            raise TransportError(f"connect {self.server}: {e!r}") from e
        if self.on_connect is not None:
            self.on_connect()
        conn = _Conn(reader, writer)
        self._open.add(conn)
        return conn

    def _drop(self, conn: _Conn) -> None:
        self._open.discard(conn)
        conn.close()

    async def _take(self) -> tuple[_Conn, bool]:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.used < KEEPALIVE and not conn.reader.at_eof():
                return conn, True
            self._drop(conn)
        return await self._connect(), False

    def _target(self, path: str, params: dict[str, str] | None) -> bytes:
        target = self._base + path
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        return target.encode()

    @staticmethod
    def _head(method: str, target: bytes, headers: dict[str, str]) -> bytes:
        lines = [b"%s %s HTTP/1.1" % (method.encode(), target), b"Host: k3os"]
        lines += [b"%s: %s" % (k.encode(), v.encode()) for k, v in headers.items()]
        return b"\r\n".join(lines) + b"\r\n"

    async def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes]:
        head = self._head(method, self._target(path, params), headers)
        if content is not None:
            head += b"Content-Length: %d\r\n" % len(content)
        message = head + b"\r\n" + (content or b"")
        for attempt in range(2):
            conn, reused = await self._take()
            try:
                conn.writer.write(message)
                status, answer = await asyncio.wait_for(conn.head(), self._timeout)
                data = await asyncio.wait_for(conn.body(answer), self._timeout)
            except (OSError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError) as e:
                self._drop(conn)
                # A kept-alive connection the server closed meanwhile: once more on a new one.
                if reused and attempt == 0 and not isinstance(e, TimeoutError):
                    continue
                raise TransportError(f"{method} {path}: {e!r}") from e
            except BaseException:
                self._drop(conn)
                raise
            if answer.get(b"connection") == b"close":
                self._drop(conn)
            else:
                conn.used = time.monotonic()
                self._idle.append(conn)
            return status, data
        raise AssertionError("unreachable")

    @contextlib.asynccontextmanager
    async def _lines(
        self, path: str, params: dict[str, str], headers: dict[str, str], read_limit: float
    ) -> AsyncIterator[AsyncIterator[str | bytes]]:
        conn = await self._connect()
        try:
            conn.writer.write(self._head("GET", self._target(path, params), headers) + b"\r\n")
            status, answer = await asyncio.wait_for(conn.head(), self._timeout)
            if status >= 400:
                raise status_error(status, await conn.body(answer))
            yield self._split(conn)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError) as e:
            raise TransportError(f"GET {path}: {e!r}") from e
        finally:
            self._drop(conn)

    @staticmethod
    async def _split(conn: _Conn) -> AsyncIterator[str | bytes]:
        pending = b""
        async for chunk in conn.chunks():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line

    def drop_idle(self, *, keep_watches: bool = False) -> None:
        """Close the idle keep-alive connections (a reboot loses them; the watches' own
        connections close as their tasks end)."""
        while self._idle:
            self._drop(self._idle.pop())

    async def aclose(self) -> None:
        for conn in list(self._open):
            self._drop(conn)
        self._idle.clear()
        with contextlib.suppress(Exception):
            await super().aclose()


class LeanH2Kube(LeanKube):
    """`LeanKube` over HTTP/2 as the agent's client speaks it (`k3os.client.http2`, whose
    connection it uses): one connection for the node's requests and both watches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ssl.set_alpn_protocols(["h2"])
        self._h2: H2Connection | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connection(self) -> H2Connection:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._h2 is None or not self._h2.usable:
                loop = asyncio.get_running_loop()
                try:
                    async with asyncio.timeout(self._timeout):
                        _, self._h2 = await loop.create_connection(
                            H2Connection, self._host, self._port, ssl=self._ssl
                        )
                except (OSError, TimeoutError, ssl.SSLError) as e:
                    raise TransportError(f"connect {self.server}: {e!r}") from e
                if self.on_connect is not None:
                    self.on_connect()
            return self._h2

    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        headers: dict[str, str],
        content: bytes | None,
    ) -> tuple[H2Connection, int, H2Stream]:
        assert self._h2 is not None
        fields = [(b"host", b"k3os")]
        fields += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if content is not None:
            fields.append((b"content-length", b"%d" % len(content)))
        target = self._target(path, params)
        stream_id, stream = self._h2.open(method.encode(), target, fields, content or b"")
        return self._h2, stream_id, stream

    async def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes]:
        await self._connection()
        conn, stream_id, stream = self._request(method, path, params, headers, content)
        try:
            async with asyncio.timeout(self._timeout):
                status, _ = await stream.head
                pieces = []
                while (piece := await stream.pieces.get()) is not None:
                    if isinstance(piece, Exception):
                        raise piece
                    pieces.append(piece)
        except (httpx2.TransportError, TimeoutError) as e:
            conn.cancel(stream_id)
            raise TransportError(f"{method} {path}: {e!r}") from e
        except BaseException:
            conn.cancel(stream_id)
            raise
        return status, b"".join(pieces)

    @contextlib.asynccontextmanager
    async def _lines(
        self, path: str, params: dict[str, str], headers: dict[str, str], read_limit: float
    ) -> AsyncIterator[AsyncIterator[str | bytes]]:
        await self._connection()
        conn, stream_id, stream = self._request("GET", path, params, headers, None)
        try:
            async with asyncio.timeout(self._timeout):
                status, _ = await stream.head
            if status >= 400:
                body = []
                while isinstance(piece := await stream.pieces.get(), bytes):
                    body.append(piece)
                raise status_error(status, b"".join(body))
            yield self._stream_lines(stream)
        except (httpx2.TransportError, TimeoutError) as e:
            raise TransportError(f"GET {path}: {e!r}") from e
        finally:
            conn.cancel(stream_id)

    @staticmethod
    async def _stream_lines(stream: H2Stream) -> AsyncIterator[str | bytes]:
        pending = b""
        while (piece := await stream.pieces.get()) is not None:
            if isinstance(piece, Exception):
                raise piece
            pending += piece
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line

    def drop_idle(self, *, keep_watches: bool = False) -> None:
        """A reboot loses the connection, watches and all (`keep_watches`: it carries the
        watches kept through the reboot, so it stays)."""
        if keep_watches or self._h2 is None:
            return
        if self._h2.transport is not None:
            self._h2.transport.close()
        self._h2 = None

    async def aclose(self) -> None:
        if self._h2 is not None and self._h2.transport is not None:
            self._h2.transport.close()
        self._h2 = None
        await super().aclose()
