"""The API's own accept loop: a burst of connections is taken a batch a turn of a busy
compiled event loop (which takes one a turn on its own), errors about one connection are
skipped, errors about the socket pause accepting instead of spinning, a failed TLS
handshake is dropped quietly, and closing stops it. Real sockets, real uvloop."""

from __future__ import annotations

import asyncio
import errno
import math
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop

from k3os.apiserver import accept
from k3os.apiserver.accept import ACCEPT_BATCH, Acceptor
from k3os.security.pki import issue, make_ca, save_pair, utcnow

BURST = 5 * ACCEPT_BATCH


class _Made(asyncio.Protocol):
    def __init__(self, made: list[asyncio.BaseTransport]) -> None:
        self.made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)  # uvloop's transports are not asyncio's subclasses


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _burst(port: int, count: int) -> list[socket.socket]:
    """`count` connections waiting in the listening socket's queue (the kernel completes
    TCP's handshake before anyone accepts)."""
    return [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]


class _Turns:
    """Counts turns of the loop, each made busy for 2 ms, as a loaded server's are."""

    def __init__(self) -> None:
        self.count = 0
        self._handle: asyncio.Handle | None = asyncio.get_running_loop().call_soon(self._turn)

    def _turn(self) -> None:
        self.count += 1
        time.sleep(0.002)
        self._handle = asyncio.get_running_loop().call_soon(self._turn)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


async def _turns_until(done: Callable[[], bool], limit: float = 10.0) -> int:
    turns = _Turns()
    deadline = time.monotonic() + limit
    try:
        while not done():
            assert time.monotonic() < deadline, "not done in time"
            await asyncio.sleep(0)
        return turns.count
    finally:
        turns.stop()


def _run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    uvloop.run(coro())


def test_a_burst_is_taken_a_batch_a_turn() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        made: list[asyncio.BaseTransport] = []
        listen = _listener()
        clients = _burst(listen.getsockname()[1], BURST)
        acceptor = Acceptor(listen, lambda: _Made(made), None, owns_socket=True)
        turns = await _turns_until(lambda: len(made) == BURST)
        # One wake-up a turn, a batch each, and a turn for the protocols to be told.
        assert turns <= math.ceil(BURST / ACCEPT_BATCH) + 3, turns
        acceptor.close()
        # What the module is for: the loop's own server takes one connection a turn.
        theirs: list[asyncio.BaseTransport] = []
        listen = _listener()
        server = await loop.create_server(lambda: _Made(theirs), sock=listen)
        clients += _burst(listen.getsockname()[1], BURST)
        assert await _turns_until(lambda: len(theirs) == BURST) >= BURST
        server.close()
        for transport in made + theirs:
            transport.close()
        for client in clients:
            client.close()

    _run(main)


def test_close_stops_accepting_and_closes_only_an_owned_socket() -> None:
    async def main() -> None:
        made: list[asyncio.BaseTransport] = []
        owned, lent = _listener(), _listener()
        for sock, owns in ((owned, True), (lent, False)):
            Acceptor(sock, lambda: _Made(made), None, owns_socket=owns).close()
        assert owned.fileno() == -1 and lent.fileno() != -1
        late = _burst(lent.getsockname()[1], 1)
        await asyncio.sleep(0.05)
        assert made == []  # nobody accepts on the lent socket any more
        lent.close()
        late[0].close()

    _run(main)


class _Flaky:
    """A listening socket whose accept fails first with the errors given."""

    def __init__(self, sock: socket.socket, errors: list[int]) -> None:
        self.sock = sock
        self.errors = errors
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)

    def accept(self) -> tuple[socket.socket, Any]:
        self.calls += 1
        if self.errors:
            code = self.errors.pop(0)
            raise OSError(code, errno.errorcode[code])
        return self.sock.accept()


def test_an_error_about_one_connection_is_skipped() -> None:
    async def main() -> None:
        made: list[asyncio.BaseTransport] = []
        flaky = _Flaky(_listener(), [errno.ECONNABORTED])
        clients = _burst(flaky.sock.getsockname()[1], 1)
        acceptor = Acceptor(flaky, lambda: _Made(made), None, owns_socket=True)  # type: ignore[arg-type]
        await _turns_until(lambda: len(made) == 1)
        assert flaky.calls >= 2  # the next one was taken in the same wake-up
        acceptor.close()
        made[0].close()
        clients[0].close()

    _run(main)


def test_an_error_about_the_socket_pauses_accepting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(accept, "ACCEPT_RETRY_DELAY", 0.2)

    async def main() -> None:
        made: list[asyncio.BaseTransport] = []
        flaky = _Flaky(_listener(), [errno.EMFILE])
        clients = _burst(flaky.sock.getsockname()[1], 1)
        acceptor = Acceptor(flaky, lambda: _Made(made), None, owns_socket=True)  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        # Paused: the socket stays readable, yet accept was not tried again and again.
        assert flaky.calls == 1 and made == []
        await _turns_until(lambda: len(made) == 1)  # and then resumed
        acceptor.close()
        made[0].close()
        clients[0].close()

    _run(main)
    assert "accepting connections paused" in caplog.text


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    d: Path = tmp_path_factory.mktemp("pki")
    now = utcnow()
    ca = save_pair(*make_ca("test-ca", now), d / "ca.crt", d / "ca.key")
    cert, key = issue(ca, "k3os", server_names=["127.0.0.1"], now=now)
    assert key is not None
    save_pair(cert, key, d / "server.crt", d / "server.key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "server.crt", d / "server.key")
    return ctx


def test_a_failed_handshake_is_dropped_quietly(server_tls: ssl.SSLContext) -> None:
    errors: list[dict[str, Any]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: errors.append(context))
        made: list[asyncio.BaseTransport] = []
        listen = _listener()
        acceptor = Acceptor(listen, lambda: _Made(made), server_tls, owns_socket=True)
        reader, writer = await asyncio.open_connection(*listen.getsockname())
        writer.write(b"GET / HTTP/1.1\r\n\r\n")  # not a TLS ClientHello
        async with asyncio.timeout(10):
            while await reader.read(4096):  # until the server hangs up
                pass
            await asyncio.gather(*acceptor._handshakes)  # each ends without an error
        assert made == []
        acceptor.close()
        writer.close()

    _run(main)
    assert errors == []
