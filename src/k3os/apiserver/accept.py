"""Accept new connections in batches, however busy the event loop is.

The compiled event loop (uvloop, on libuv 1.52) takes one connection from a listening
socket per turn of the loop. A turn of a busy API server runs every request, watch event
and store answer that came in since the last one, 10-20 ms of work, so when a hundred
agents come back from their reboots together, or a whole fleet reconnects after the server
restarts, the hundredth waits a hundred turns before its TLS handshake even starts: in the
fleet benchmark's first wave of 50, the last connection was accepted ~0.65 s after the
first, each about one turn after the one before (docs/benchmarks.md, the fleet section).

`Acceptor` reads the listening socket itself: each time it is readable it takes what is
waiting, up to `ACCEPT_BATCH`, and hands each connection to the loop with
`connect_accepted_socket`, so the handshakes of a batch start in the same turn. The batch
is small on purpose. Taking a whole burst at once (32) made the handshakes of a wave of
rebooted agents one long stretch of the loop's time, and every request already queued
waited behind it: at 500 nodes the rollout went from 1.32-1.34x to 1.39-1.43x. Four a
turn keeps a turn's share of handshakes small and still drains a burst four times as fast:
at 1,000 nodes on a saturated two-core machine the rollout went from 2.03-2.07x to 1.82x
and the server's CPU per upgraded node from ~25.5 to ~21.7 ms (fewer turns of the loop),
at 500 nodes it stayed where it was. A small batch also keeps several API workers on one
socket even: a busy worker wakes once a turn and takes at most a batch, an idle one
sooner. An accept error that is not about the one connection being taken (out of file
descriptors, say) pauses accepting for a second, as asyncio's own servers do, rather than
spin on a socket that stays readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Connections taken per wake-up of the listening socket, at most (see above).
ACCEPT_BATCH = 4
#: Seconds accepting pauses after an accept error that is not about one connection.
ACCEPT_RETRY_DELAY = 1.0
#: accept(2) errors about the one connection it was taking (Linux passes the new socket's
#: pending network errors on this way): the next one is taken as if nothing happened.
_CONNECTION_ERRORS = frozenset(
    {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ENETDOWN, errno.ENETUNREACH,
     errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.ENONET, errno.ENOPROTOOPT, errno.EOPNOTSUPP}
)  # fmt: skip


class Acceptor:
    """Accepts on `sock` for `protocol_factory`'s protocols (TLS with `ssl_context`, if
    any) until `close()`. Stands where uvicorn keeps its asyncio servers: `close()` stops
    accepting, `wait_closed()` returns at once (the connections are uvicorn's to end)."""

    def __init__(
        self,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        ssl_context: ssl.SSLContext | None,
        *,
        backlog: int = 2048,
        owns_socket: bool = False,
    ) -> None:
        self._sock = sock
        self._factory = protocol_factory
        self._ssl = ssl_context
        self._owns = owns_socket
        self._loop = asyncio.get_running_loop()
        self._handshakes: set[asyncio.Task[object]] = set()
        self._retry: asyncio.TimerHandle | None = None
        self._closed = False
        sock.listen(backlog)  # a socket only bound (`server._bind`) listens from here
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in _CONNECTION_ERRORS:  # that peer gave up before it was taken
                    log.debug("accept: %s", e)
                    continue
                # Out of file descriptors or memory, or the socket itself in trouble: a
                # socket that stays readable must not be retried in a busy loop.
                log.error("accepting connections paused for %.0f s: %s", ACCEPT_RETRY_DELAY, e)
                self._loop.remove_reader(self._sock.fileno())
                self._retry = self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._connect(conn))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    def _resume(self) -> None:
        self._retry = None
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn, ssl=self._ssl)
        except OSError as e:  # a failed or abandoned TLS handshake, a peer gone
            log.debug("connection dropped before it was up: %r", e)
            conn.close()  # the loop has closed it already, unless it failed before taking it
        except Exception:
            log.warning("connection dropped before it was up", exc_info=True)
            conn.close()

    def close(self) -> None:
        """Stop accepting; connections already up are left to their protocols, and
        handshakes still under way are abandoned. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        with contextlib.suppress(ValueError, OSError):  # the socket may be closed already
            self._loop.remove_reader(self._sock.fileno())
        for task in list(self._handshakes):
            task.cancel()
        if self._owns:
            self._sock.close()

    async def wait_closed(self) -> None:
        return None
