"""HTTP/2 on the API port: chosen by ALPN, with the same client-certificate authentication
as HTTP/1.1; the agent's client puts its requests and watches on one connection; and a
client that stops reading one stream gets that stream reset, not the server's memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest
from cryptography.hazmat.primitives import serialization

from k3os.client import InformerSet, Kube, connect
from k3os.client.errors import TransportError
from k3os.client.http2 import Http2Transport
from k3os.client.resources import CONFIG_MAPS, NAMESPACES
from k3os.security.pki import KeyPair, issue, key_to_pem, make_ca
from tests.integration._apiserver import RunningServer, running_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("http2") / "data"
    with running_server(data, ["--disable-controller-manager"]) as running:
        yield running


class H2Client:
    """A bare HTTP/2 client (the `h2` package over a blocking TLS socket) whose flow
    control the test drives: a stream's window is given back only when asked."""

    def __init__(self, server: RunningServer, *, client_cert: bool = True) -> None:
        ctx = server.ssl_context(client_cert=client_cert)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=15)
        self.sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.alpn = self.sock.selected_alpn_protocol()
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.flush()
        self.heads: dict[int, int] = {}
        self.bodies: dict[int, bytes] = {}
        self.ended: set[int] = set()
        self.reset: set[int] = set()
        self.stalled: set[int] = set()  # streams whose window is never given back

    def flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def request(self, method: str, path: str, body: bytes = b"") -> int:
        stream = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":path", path), (":scheme", "https"),
                   (":authority", "127.0.0.1"), ("accept", "application/json")]  # fmt: skip
        if body:
            headers.append(("content-type", "application/json"))
        self.conn.send_headers(stream, headers, end_stream=not body)
        if body:
            self.conn.send_data(stream, body, end_stream=True)
        self.flush()
        return stream

    def pump(self, until: object, within: float = 30.0) -> None:
        """Read frames until `until()` is true."""
        deadline = time.monotonic() + within
        while not until():  # type: ignore[operator]
            assert time.monotonic() < deadline, "no answer in time"
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    self.heads[event.stream_id] = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    sid = event.stream_id
                    self.bodies[sid] = self.bodies.get(sid, b"") + event.data
                    size = event.flow_controlled_length
                    if sid in self.stalled:  # the connection's window only
                        self.conn.increment_flow_control_window(size)
                    else:
                        self.conn.acknowledge_received_data(size, sid)
                elif isinstance(event, h2.events.StreamEnded):
                    self.ended.add(event.stream_id)
                elif isinstance(event, h2.events.StreamReset):
                    self.reset.add(event.stream_id)
            self.flush()

    def get(self, path: str) -> tuple[int, bytes]:
        stream = self.request("GET", path)
        self.pump(lambda: stream in self.ended or stream in self.reset)
        return self.heads.get(stream, 0), self.bodies.get(stream, b"")

    def close(self) -> None:
        self.sock.close()


async def _eventually(check: Callable[[], object], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _informing(kube: Kube, informers: InformerSet) -> AsyncIterator[None]:
    """The informers run for the block; then they stop and the client closes."""
    tasks = [asyncio.create_task(c) for c in informers.coroutines().values()]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await kube.aclose()


def test_http2_is_chosen_by_alpn_and_authenticates_by_client_certificate(
    server: RunningServer,
) -> None:
    admin = H2Client(server)
    try:
        assert admin.alpn == "h2"
        status, body = admin.get("/api/v1/namespaces")
        assert status == 200
        names = {n["metadata"]["name"] for n in json.loads(body)["items"]}
        assert {"default", "kube-system"} <= names
        # Many requests on one connection, each its own stream.
        for _ in range(3):
            assert admin.get("/api/v1/namespaces/default")[0] == 200
    finally:
        admin.close()
    nobody = H2Client(server, client_cert=False)
    try:
        assert nobody.alpn == "h2"
        status, body = nobody.get("/api/v1/namespaces")
        assert status == 401 and json.loads(body)["reason"] == "Unauthorized"
        assert nobody.get("/livez")[0] == 200
    finally:
        nobody.close()
    # A client that offers only HTTP/1.1 is served HTTP/1.1.
    assert server.get("/api/v1/namespaces/default")[0] == 200


def test_the_agents_client_puts_requests_and_watches_on_one_connection(
    server: RunningServer,
) -> None:
    async def scenario() -> None:
        kube = connect(
            server.url,
            ca=server.tls / "ca.crt",
            cert=server.tls / "admin.crt",
            key=server.tls / "admin.key",
        )
        informers = InformerSet(kube)
        maps = informers.get(CONFIG_MAPS, namespace="default")
        spaces = informers.get(NAMESPACES)
        async with _informing(kube, informers):
            await asyncio.wait_for(asyncio.gather(maps.synced.wait(), spaces.synced.wait()), 30)
            big = "x" * 200_000  # events larger than HTTP/2's initial 64 KiB window
            for i in range(4):
                body = {"metadata": {"name": f"one-conn-{i}"}, "data": {"a": big}}
                await kube.create(CONFIG_MAPS, body, "default")
            await kube.create(NAMESPACES, {"metadata": {"name": "one-conn"}})
            await _eventually(
                lambda: (
                    all(maps.cache.get(f"one-conn-{i}", "default") for i in range(4))
                    and spaces.cache.get("one-conn")
                ),
                "the watches did not deliver",
            )
            transport = kube._http._transport  # type: ignore[attr-defined]
            assert isinstance(transport, Http2Transport)
            assert (transport.protocol, transport.connections_opened) == ("h2", 1)
            # The connection drops (a network fault): the watches see it end, watch again,
            # and the next request opens the one new connection they all share.
            assert transport._conn is not None and transport._conn.transport is not None
            transport._conn.transport.abort()
            await kube.create(NAMESPACES, {"metadata": {"name": "after-drop"}})
            await _eventually(lambda: spaces.cache.get("after-drop"), "the watch did not come back")
            assert transport.connections_opened == 2

    asyncio.run(scenario())


def test_a_watch_its_client_stops_reading_is_reset_and_the_connection_goes_on(
    server: RunningServer, tmp_path: Path
) -> None:
    client = H2Client(server)
    try:
        watch = client.request("GET", "/api/v1/namespaces/default/configmaps?watch=1")
        client.stalled.add(watch)
        client.pump(lambda: watch in client.heads)
        assert client.heads[watch] == 200
        big = "y" * 500_000
        for i in range(12):  # ~6 MB of events, past the 4 MiB a stream may hold back
            body = {"metadata": {"name": f"stall-{i}"}, "data": {"a": big}}
            assert server.post("/api/v1/namespaces/default/configmaps", body) == 201
        client.pump(lambda: watch in client.reset)
        # Only the stalled stream went: the connection serves the next request.
        assert client.get("/api/v1/namespaces/default")[0] == 200
    finally:
        client.close()
    assert "does not read; reset" in server.log.read_text()


def test_a_server_without_http2_is_spoken_to_in_http11(tmp_path: Path) -> None:
    """A server that does not choose h2 by ALPN (here Python's own HTTPS server) gets
    HTTP/1.1 from the same client."""
    import http.server
    import threading

    ca_cert, ca_key = make_ca("test-ca")
    ca = KeyPair(ca_cert, ca_key, tmp_path / "ca.crt", tmp_path / "ca.key")
    cert, key = issue(ca, "127.0.0.1", server_names=["127.0.0.1"])
    assert key is not None
    (tmp_path / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls.key").write_bytes(key_to_pem(key))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = json.dumps({"kind": "Namespace", "metadata": {"name": "default"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    async def scenario() -> None:
        kube = connect(f"https://127.0.0.1:{httpd.server_address[1]}",
                       ca=tmp_path / "ca.crt", token="t")  # fmt: skip
        try:
            for _ in range(2):
                obj = await kube.get(NAMESPACES, "default")
                assert obj["metadata"]["name"] == "default"
            transport = kube._http._transport  # type: ignore[attr-defined]
            assert isinstance(transport, Http2Transport)
            assert (transport.protocol, transport.connections_opened) == ("http/1.1", 0)
        finally:
            await kube.aclose()

    try:
        asyncio.run(scenario())
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_no_http2_serves_http11_from_every_process(tmp_path: Path) -> None:
    """`k3os server --no-http2`, the operator's way around the HTTP/2 engine: the main
    process and its API worker both answer ALPN with http/1.1, and the agent's client,
    which offers h2 first, goes on in HTTP/1.1 with its requests and watches."""
    with running_server(tmp_path / "data", ["--no-http2", "--api-workers", "1"]) as server:
        chosen = set()
        for _ in range(12):  # connections land on either process
            client = H2Client(server)
            chosen.add(client.alpn)
            client.close()
        assert chosen == {"http/1.1"}

        async def scenario() -> None:
            kube = connect(server.url, ca=server.tls / "ca.crt",
                           cert=server.tls / "admin.crt", key=server.tls / "admin.key")  # fmt: skip
            informers = InformerSet(kube)
            maps = informers.get(CONFIG_MAPS, namespace="default")
            async with _informing(kube, informers):
                await asyncio.wait_for(maps.synced.wait(), 30)
                await kube.create(CONFIG_MAPS, {"metadata": {"name": "h1"}}, "default")
                await _eventually(
                    lambda: maps.cache.get("h1", "default"), "the watch did not deliver"
                )
                transport = kube._http._transport  # type: ignore[attr-defined]
                assert isinstance(transport, Http2Transport)
                assert (transport.protocol, transport.connections_opened) == ("http/1.1", 0)

        asyncio.run(scenario())


class _Blackhole:
    """A TCP relay to the server that can start dropping everything both ways without
    closing anything: a link that went dead without a word."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dropping = False
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers.add(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if not self.dropping:
                    dst.write(data)
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer),
                             return_exceptions=True)  # fmt: skip

    async def stop(self) -> None:
        """Closes the listener and every relayed connection, both ends, before the test's
        loop goes: a connection left to the garbage collector after the loop is closed is
        an unraisable ResourceWarning in whichever test collects it."""
        if self.server is not None:
            self.server.close()
        for writer in self.writers:
            writer.close()
        for writer in self.writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self.writers.clear()


def test_a_connection_gone_silent_is_given_up_for_a_new_one(server: RunningServer) -> None:
    """The link dies without a word: a request times out, and as the whole connection was
    silent the client gives it up; the next request (the link back) opens a new one instead
    of waiting on the dead one until TCP notices."""

    async def scenario() -> None:
        hole = _Blackhole(server.port)
        port = await hole.start()
        kube = connect(f"https://127.0.0.1:{port}", ca=server.tls / "ca.crt",
                       cert=server.tls / "admin.crt", key=server.tls / "admin.key",
                       timeout=1.0)  # fmt: skip
        try:
            assert (await kube.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
            hole.dropping = True
            with pytest.raises(TransportError):
                await kube.get(NAMESPACES, "default")
            hole.dropping = False
            # A create, which the client would not send twice: it must go on a new
            # connection at once, not fail on the dead one.
            made = await kube.create(CONFIG_MAPS, {"metadata": {"name": "after-silence"}},
                                     "default")  # fmt: skip
            assert made["metadata"]["name"] == "after-silence"
            transport = kube._http._transport  # type: ignore[attr-defined]
            assert transport.connections_opened == 2
        finally:
            await kube.aclose()
            await hole.stop()

    asyncio.run(scenario())
