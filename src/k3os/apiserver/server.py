"""Run the API: open the store, seed the system namespaces, serve HTTPS with client
certificates on one port, and stop cleanly on SIGTERM/SIGINT.

TLS is uvicorn's (the serving certificate, the cluster CA for client certificates,
`CERT_OPTIONAL` so health checks work without one). ALPN picks the protocol per connection
(`AlpnProtocol`): HTTP/2 on zttp, a compiled engine, for the clients that offer it (an
agent's requests and watches then share one connection), HTTP/1.1 for the rest, parsed by
httptools (C) rather than h11 (pure Python): about a fifth less server CPU per create
(docs/benchmarks.md, the API section). Uvicorn does not expose the peer certificate to the
app, so both protocols read it from the connection's SSL object once per connection and
put it in the ASGI scope's `state`. Uvicorn writes a response's head and its body
separately; `_CoalescedWrites` joins what one turn of the event loop writes to a
connection into one write, so a response is one TLS record and one send, not two.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import gc
import logging
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import uvicorn
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from uvicorn.protocols.http.auto_zttp_impl import AutoZttpProtocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.http.zttp_h2_impl import RequestResponseCycle, ZttpH2Protocol

from k3os.apiserver.accept import Acceptor
from k3os.apiserver.app import build_app
from k3os.apiserver.auth import PEER_CERT_STATE_KEY
from k3os.apiserver.context import ApiContext, Settings
from k3os.apiserver.crds import CustomResourceDefinitions
from k3os.apiserver.defaults import apply_defaults
from k3os.apiserver.errors import AlreadyExists
from k3os.apiserver.images import image_routes
from k3os.apiserver.inprocess import InProcessEntry
from k3os.apiserver.objects import prepare_create
from k3os.apiserver.registry import EVENT_TTL
from k3os.apiserver.reviews import Reviews
from k3os.apiserver.security_runtime import ApiSecurity, judge_certificate_time_in_app
from k3os.apiserver.workers import ApiWorkers, WorkerSpec
from k3os.security.bootstrap import ServerPKI
from k3os.security.tlschain import send_leaf_only
from k3os.store import Store, open_store

__all__ = [
    "AlpnProtocol",
    "Http11Protocol",
    "PeerCertHttpToolsProtocol",
    "ServeOptions",
    "seed",
    "serve",
]

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class _CoalescedWrites:
    """A connection's transport whose writes made in one turn of the event loop leave as
    one write at the end of the turn (or before a close). Everything else is the
    transport's own."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._held = [data]
            self._loop.call_soon(self._flush)
        else:
            self._held.append(data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _peer_certificate(transport: asyncio.BaseTransport) -> bytes | None:
    ssl_object = transport.get_extra_info("ssl_object")
    return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None


class PeerCertHttpToolsProtocol(HttpToolsProtocol):
    """httptools protocol that hands the verified client certificate (DER) to the app,
    and writes each turn's output to the connection at once (`_CoalescedWrites`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app_state = {**self.app_state, PEER_CERT_STATE_KEY: _peer_certificate(transport)}
        self.transport = _CoalescedWrites(transport, self.loop)  # type: ignore[assignment]


class PeerCertH2Protocol(ZttpH2Protocol):
    """HTTP/2 (zttp's compiled engine) with the client certificate handed to the app as
    `PeerCertHttpToolsProtocol` does. One connection carries all of a client's requests and
    watches: an agent back from its reboot makes one TLS handshake instead of three."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.app_state = {**self.app_state, PEER_CERT_STATE_KEY: _peer_certificate(transport)}
        super().connection_made(transport)
        # A response is three writes (HEADERS, DATA, the stream's end), and a turn of the
        # loop often answers several streams: each write is a TLS record and a send.
        self.transport = _CoalescedWrites(transport, self.loop)  # type: ignore[assignment]

    def handle_request(self, event: Any) -> None:
        super().handle_request(event)
        cycle = self.cycles.get(event.stream_id)
        if cycle is not None:  # its task has not started: it will send as a bounded cycle
            cycle.__class__ = _BoundedCycle


#: What one HTTP/2 stream may hold back for a client that stopped reading it.
H2_PARKED_LIMIT = 4 * 1024 * 1024


class _BoundedCycle(RequestResponseCycle):
    """An HTTP/2 stream whose `send` resets it once more than `H2_PARKED_LIMIT` bytes of
    its response wait for the client's flow-control window. Over HTTP/1.1 a client that
    stops reading fills the socket, the transport pauses the writer, and a watch that
    falls behind is ended (`apiserver.watch`); over HTTP/2 the socket stays open for the
    other streams while the engine parks the stalled one's bytes, without bound. Reset,
    the watch ends as a slow one does and its client watches again from its
    resourceVersion.

    The engine makes its own cycles; each is given this class before its task starts (no
    state of its own, only the method). A closure over the cycle set as its `send` made
    every stream a reference cycle that only the garbage collector freed."""

    async def send(self, message: Any) -> None:
        await super().send(message)
        parked = self.stream.pending_bytes
        if parked and parked > H2_PARKED_LIMIT and not self.disconnected:
            log.warning(
                "HTTP/2 stream %s of %s: %d bytes wait for a client that does not read; reset",
                self.stream.stream_id,
                self.scope.get("path"),
                parked,
            )
            self.abort_stream()
            self.message_event.set()


class AlpnProtocol(AutoZttpProtocol):
    """Each TLS connection to the protocol its client chose by ALPN: HTTP/2 or HTTP/1.1
    (httptools). A connection without TLS (tests without a PKI) is HTTP/1.1, or HTTP/2 when
    it opens with the HTTP/2 preface."""

    def _switch(self, http2: bool, initial_data: bytes = b"") -> None:
        protocol_class = PeerCertH2Protocol if http2 else PeerCertHttpToolsProtocol
        protocol = protocol_class(
            config=self.config,
            server_state=self.server_state,
            app_state=self.app_state,
            _loop=self.loop,
        )
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        if initial_data:
            protocol.data_received(initial_data)


class Http11Protocol(PeerCertHttpToolsProtocol):
    """HTTP/1.1 only (`ServeOptions.http2` off): ALPN offers `http/1.1` alone, so a client
    that asks for `h2` is told HTTP/1.1 in the handshake rather than left to guess."""

    alpn_protocols: ClassVar[list[str]] = ["http/1.1"]


class _Server(uvicorn.Server):
    """Signals are ours (the loop's handlers), so a SIGTERM ends serve() and nothing more.
    Connections are accepted by `Acceptor` (a few a turn of the loop, where the server
    uvicorn would create on uvloop takes one): on the sockets given, or on the one bound for
    `config.host` and `config.port` when none are; `sockets=[]` accepts nothing."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        config = self.config
        owned = sockets is None
        if sockets is None:
            sockets = [_bind(config.host, config.port)]
        await super().startup(sockets=[])
        if not self.started:
            return

        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return made

        acceptors = [
            Acceptor(sock, protocol, config.ssl, backlog=config.backlog, owns_socket=owned)
            for sock in sockets
        ]
        self.servers = acceptors  # type: ignore[assignment]  # uvicorn only closes them


#: The exit status when the port cannot be had (uvicorn's for a failed start-up).
LISTEN_FAILURE = 3


def _bind(host: str, port: int) -> socket.socket:
    """The API's socket, bound to `host:port` (it listens once an `Acceptor` reads it). A
    port that cannot be had is one line naming it, and the process exits."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        log.error("cannot listen on %s port %d: %s", host, port, (e.strerror or str(e)).lower())
        sys.exit(LISTEN_FAILURE)
    sock.set_inheritable(True)  # passed to the API workers
    return sock


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 6443
    datastore: str = ""
    pki: ServerPKI | None = None  # None: plain HTTP without authentication (tests only)
    anonymous_health: bool = True  # /livez, /readyz, /healthz, /version without credentials
    # Awaited (at most STOP_HOOK_TIMEOUT s) on SIGTERM/SIGINT while the API still serves, so
    # in-process clients can say goodbye (the controller manager releases its Lease).
    before_stop: Callable[[], Awaitable[None]] | None = None
    # Prometheus text for GET /metrics (behind the usual gate), e.g. the in-process controllers'.
    metrics: Callable[[], str | Awaitable[str]] | None = None
    # The door for this process's own clients (the controller manager), opened with the API.
    in_process: InProcessEntry | None = None
    # Serve on this listening socket instead of binding one (an API worker's, passed down).
    listen: socket.socket | None = None
    # False in an API worker: the main process seeds the store and owns the datastore.
    primary: bool = True
    # Worker processes serving the API beside this one (k3os.apiserver.workers).
    api_workers: int = 0
    # Offer HTTP/2 by ALPN (False: HTTP/1.1 only, an operator's way around the young
    # HTTP/2 engine should it misbehave; clients then fall back to HTTP/1.1).
    http2: bool = True
    # Seconds an Event lives after its last write (the store deletes it then).
    event_ttl: int = EVENT_TTL
    # How to start one (k3os.apiserver.workers.ApiWorkers); the CLI gives `k3os api-worker`.
    worker_command: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


async def seed(ctx: ApiContext) -> None:
    """Create the system namespaces if they are missing."""
    ns = ctx.registry.lookup("", "v1", "namespaces")
    assert ns is not None
    for name in SYSTEM_NAMESPACES:
        obj: dict[str, Any] = {"metadata": {"name": name}}
        apply_defaults("", "Namespace", obj)
        try:
            await ctx.objects.create(ns, prepare_create(ns, obj, "", ctx.clock()))
        except AlreadyExists:
            continue


TLS_READ_BUFFER = 32 * 1024


def _small_tls_read_buffers() -> None:
    """asyncio gives every TLS connection a 256 KiB read buffer (`SSLProtocol.max_size`);
    with a fleet's watch connections that was most of the server's memory (~0.7 MiB a node).
    A TLS record is at most 16 KiB, so 32 KiB costs only a few more reads of a large body."""
    asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


#: Young collections every 20,000 allocations instead of 700 (and the next generations
#: after 20 of the one below instead of 10).
GC_THRESHOLDS = (20_000, 20, 20)


def _tune_gc() -> None:
    """With a thousand watch connections the heap holds ~250,000 tracked objects, and a
    full collection stopped the event loop for 50-150 ms in the middle of a fan-out
    (`scripts/bench api`). What start-up built (schemas, routes, the registry) is moved
    out of the collector's sight, and young collections run far less often, so the
    short-lived objects of events in flight die before they can be promoted and push the
    collector into a full pass."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _uvicorn_config(app: Any, opts: ServeOptions) -> uvicorn.Config:
    kwargs: dict[str, Any] = {
        "host": opts.host,
        "port": opts.port,
        "lifespan": "off",
        "log_config": None,
        "access_log": False,
        "http": AlpnProtocol if opts.http2 else Http11Protocol,
        "timeout_graceful_shutdown": 2,
        "timeout_keep_alive": 30,
        "server_header": False,
        # No proxy sits in front of this server: no client address taken from
        # X-Forwarded-For (uvicorn trusts it from loopback by default), and one ASGI layer
        # less on every request.
        "proxy_headers": False,
    }
    if opts.pki is not None:
        _small_tls_read_buffers()
        kwargs.update(
            ssl_certfile=str(opts.pki.serving.cert_path),
            ssl_keyfile=str(opts.pki.serving.key_path),
            ssl_ca_certs=str(opts.pki.ca.cert_path),
            ssl_cert_reqs=ssl.CERT_OPTIONAL,
        )
    return uvicorn.Config(app, **kwargs)


def _tune_tls(config: uvicorn.Config) -> None:
    """Issue no TLS 1.3 session tickets, and build no certificate chain per handshake.

    OpenSSL sends two tickets after every handshake by default, a third of the server's CPU
    for a handshake (~250 of ~760 us here), and the clients of this API (kubectl,
    client-go, the Python clients, our agents) open a new connection with a full handshake
    rather than resume, so the tickets are thrown away. An agent after its reboot opens
    a new connection: at a hundred upgrading nodes a second that was ~7 % of the server's
    CPU (`scripts/bench fleet`, the rollout's profile). The serving certificate goes out as
    its file holds it, as kube-apiserver sends it (`k3os.security.tlschain`)."""
    if not config.loaded:
        config.load()
    if config.ssl is not None:
        config.ssl.num_tickets = 0
        send_leaf_only(config.ssl)


def _metrics_endpoint(
    render: Callable[[], str | Awaitable[str]],
) -> Callable[[Request], Awaitable[Response]]:
    async def metrics(request: Request) -> Response:
        text = render()
        if not isinstance(text, str):  # an API worker asks the main process
            text = await text
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return metrics


async def serve(opts: ServeOptions, store: Store | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or cancellation); the store is closed on the way out."""
    if opts.api_workers > 0 and opts.pki is None:
        raise ValueError("API workers serve TLS only: a server with workers needs its PKI")
    own_store = store is None
    if store is None:
        store = await open_store(opts.datastore)
    ctx = ApiContext(store, settings=Settings(event_ttl=opts.event_ttl))
    security = None
    if opts.pki is not None:
        security = ApiSecurity(ctx, opts.pki, anonymous_health=opts.anonymous_health)
    host = "127.0.0.1" if opts.host in ("0.0.0.0", "::", "") else opts.host
    routes = security.routes() if security is not None else []
    routes += Reviews(ctx).routes()
    routes += image_routes(opts.pki.data_dir) if opts.pki is not None else []
    if opts.metrics is not None:
        routes.append(("/metrics", _metrics_endpoint(opts.metrics), ["GET"]))
    app = build_app(ctx, server_address=f"{host}:{opts.port}", extra_routes=routes)
    config = _uvicorn_config(app, opts)
    if opts.in_process is not None:
        opts.in_process.attach(app)
    if security is not None:
        judge_certificate_time_in_app(config)
        _tune_tls(config)
    server = _Server(config)
    loop = asyncio.get_running_loop()
    stop_signals = (signal.SIGTERM, signal.SIGINT)
    for sig in stop_signals:
        loop.add_signal_handler(sig, _request_exit, server, ctx, sig, opts.before_stop)
    crds = CustomResourceDefinitions(ctx)
    listen = opts.listen
    if listen is None and opts.api_workers > 0:
        listen = _bind(config.host, config.port)
    workers: ApiWorkers | None = None
    try:
        if opts.primary:
            await seed(ctx)
        await crds.start()
        if security is not None:
            await security.start()
        _tune_gc()
        ctx.ready.set()
        if opts.in_process is not None:
            opts.in_process.open()
        if opts.api_workers > 0:
            assert listen is not None
            spec = _worker_spec(opts, listen)
            workers = ApiWorkers(
                opts.api_workers, listen, store, spec, opts.worker_command, metrics=opts.metrics
            )
            workers.start()
        log.info("serving the API on %s:%d", opts.host, opts.port)
        if workers is not None:
            # The workers serve the port; this process owns the datastore, runs the
            # controllers and watches over them (connections made while no worker is up
            # wait in the socket's backlog).
            await server.serve(sockets=[])
        else:
            await server.serve(sockets=[listen] if listen is not None else None)
    finally:
        if workers is not None:
            await workers.stop()
        if opts.in_process is not None:
            opts.in_process.close()
        for sig in stop_signals:
            loop.remove_signal_handler(sig)
        if security is not None:
            await security.stop()
        await crds.stop()
        if own_store:
            await store.close()
        log.info("API server stopped")


def _worker_spec(opts: ServeOptions, listen: socket.socket) -> WorkerSpec:
    assert opts.pki is not None, "API workers serve TLS only"
    return WorkerSpec(
        data_dir=str(opts.pki.data_dir),
        bind_address=opts.host,
        port=listen.getsockname()[1],
        datastore=opts.datastore,
        anonymous_health=opts.anonymous_health,
        metrics=opts.metrics is not None,
        http2=opts.http2,
        event_ttl=opts.event_ttl,
    )


STOP_HOOK_TIMEOUT = 5.0
_stop_hooks: set[asyncio.Task[None]] = set()


def _request_exit(
    server: uvicorn.Server,
    ctx: ApiContext,
    sig: signal.Signals,
    before_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    log.info("received %s, stopping", sig.name)
    if before_stop is None or _stop_hooks:  # no hook, or a second signal: stop now
        ctx.stopping.set()
        server.should_exit = True
        return

    async def hook_then_stop() -> None:
        try:
            await asyncio.wait_for(before_stop(), STOP_HOOK_TIMEOUT)
        except Exception:
            log.exception("stop hook failed")
        finally:
            ctx.stopping.set()
            server.should_exit = True

    task = asyncio.get_running_loop().create_task(hook_then_stop(), name="before-stop")
    _stop_hooks.add(task)
    task.add_done_callback(_stop_hooks.discard)


def default_datastore(data_dir: Path) -> str:
    db = data_dir / "server" / "db"
    db.mkdir(parents=True, exist_ok=True)
    return f"sqlite://{(db / 'state.db').resolve()}"
