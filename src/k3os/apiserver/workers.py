"""API worker processes: the API served from more than one core (`--api-workers N`).

The server's main process opens the datastore, seeds it, runs the controllers, all on
one event loop, so one core is all it can use. With N workers it binds the port and
leaves it to N processes that serve the API on **that listening socket** (its file
descriptor passed down): the kernel hands each new connection to whichever worker
accepts first, so a busy one takes fewer, and the main process accepts none itself. A
worker runs the whole request path — TLS, HTTP, authentication, authorization,
admission, validation, encoding, watches — and only the datastore is not its own:

- SQLite (and memory) has one owner, the main process; a worker reaches it through
  `k3os.store._remote.RemoteStore` on a socket pair made for it (docs/benchmarks.md,
  *Fleet*, measures what that costs and buys);
- etcd is shared by design, so a worker opens its own client to it, as a second server
  on the same etcd would, and its socket pair carries only what the main process alone
  has (its controllers' /metrics) and tells the worker when the main process is gone.

The main process starts the workers once it is ready (schema, system namespaces,
bootstrap policy), restarts one that dies (after 1 s, doubling to 30 s while they keep
dying young) and stops them (SIGTERM, then SIGKILL after `STOP_GRACE` s) when it stops.
A worker whose main process goes away stops at once: it would have no datastore, and a
listening socket nobody supervises must not keep accepting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from k3os.apiserver.registry import EVENT_TTL
from k3os.store import Store
from k3os.store._registry import parse_url
from k3os.store._remote import RemoteStore, StoreService

__all__ = ["ApiWorkers", "WorkerSpec", "owned_datastore", "serve_worker"]

log = logging.getLogger(__name__)

STOP_GRACE = 5.0
RESTART_FIRST = 1.0
RESTART_MAX = 30.0
#: A worker that ran this long before it died restarts after RESTART_FIRST again.
RESTART_RESET = 60.0


def owned_datastore(datastore: str) -> bool:
    """Whether the datastore has one owning process (workers go through it) rather than
    being shared by design (etcd: each worker is a client of its own)."""
    url, _ = parse_url(datastore)
    return url.scheme in ("sqlite", "memory")


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to serve as the main process does (passed as JSON)."""

    data_dir: str
    bind_address: str
    port: int
    datastore: str
    anonymous_health: bool = True
    metrics: bool = False  # the main process has /metrics to give (its controllers')
    http2: bool = True  # offer HTTP/2 by ALPN, as the main process does
    event_ttl: int = EVENT_TTL  # seconds an Event lives after its last write

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))


class ApiWorkers:
    """The main process's side: start, watch over and stop the worker processes."""

    def __init__(
        self,
        count: int,
        listen: socket.socket,
        store: Store,
        spec: WorkerSpec,
        command: list[str],
        *,
        metrics: Callable[[], Any] | None = None,
    ) -> None:
        """`command` starts a worker when given three more arguments: its spec as JSON and
        the file descriptors of its link and of the listening socket."""
        self.count = count
        self.command = command
        self.listen = listen
        self.spec = spec
        self.service = StoreService(store, {"metrics": metrics} if metrics is not None else {})
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        for index in range(self.count):
            self._tasks.append(asyncio.create_task(self._keep(index), name=f"api-worker-{index}"))

    async def _keep(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        delay = RESTART_FIRST
        while not self._stopping:
            started = loop.time()
            try:
                proc = await self._spawn(index)
            except OSError as e:
                log.error("cannot start API worker %d: %s", index, e)
            else:
                code = await proc.wait()
                self.processes.pop(index, None)
                if self._stopping:
                    return
                log.warning(
                    "API worker %d (pid %d) exited with %s; starting another in %.0f s",
                    index,
                    proc.pid,
                    _describe_exit(code),
                    delay,
                )
            if loop.time() - started > RESTART_RESET:
                delay = RESTART_FIRST
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX)

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        ours, theirs = socket.socketpair()
        try:
            await self.service.attach(ours)
            proc = await asyncio.create_subprocess_exec(
                *self.command,
                self.spec.to_json(),
                str(theirs.fileno()),
                str(self.listen.fileno()),
                pass_fds=(theirs.fileno(), self.listen.fileno()),
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
                stdin=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.processes[index] = proc
        log.info("started API worker %d (pid %d)", index, proc.pid)
        return proc

    async def stop(self) -> None:
        self._stopping = True
        procs = list(self.processes.values())
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        waits = [asyncio.create_task(proc.wait()) for proc in procs]
        if waits:
            _, late = await asyncio.wait(waits, timeout=STOP_GRACE)
            for proc in procs:
                if proc.returncode is None:
                    log.warning("API worker pid %d did not stop; killing it", proc.pid)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            if late:
                await asyncio.wait(late)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.service.close()


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"status {code}"


# -- the worker's side ---------------------------------------------------------------------


async def serve_worker(spec: WorkerSpec, link: socket.socket, listen: socket.socket) -> None:
    """A worker's life: its store (through the main process, or its own etcd client), then
    the API on the shared socket until SIGTERM or the main process's end."""
    from k3os.apiserver.server import ServeOptions, serve
    from k3os.security.bootstrap import load_server_pki
    from k3os.store import open_store

    pki = load_server_pki(Path(spec.data_dir))  # made by the main process: only read here
    owned = owned_datastore(spec.datastore)
    remote = await RemoteStore.connect(link, follow=owned)
    store: Store = remote if owned else await open_store(spec.datastore)
    opts = ServeOptions(
        host=spec.bind_address,
        port=spec.port,
        datastore=spec.datastore,
        pki=pki,
        anonymous_health=spec.anonymous_health,
        http2=spec.http2,
        event_ttl=spec.event_ttl,
        listen=listen,
        primary=False,
        metrics=(lambda: remote.extra("metrics")) if spec.metrics else None,
    )

    async def stop_when_lost() -> None:
        await remote.lost.wait()
        log.error("API worker %d: the main server process went away; stopping", os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = asyncio.create_task(stop_when_lost(), name="main-process-watch")
    try:
        await serve(opts, store=store)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await store.close()
        await remote.close()
