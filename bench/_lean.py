"""A lean HTTP/1.1 client for the API benchmark: asyncio TLS streams, requests written as
bytes, responses read by Content-Length or chunk by chunk.

httpx costs the benchmark client ~0.7 ms of CPU per request, more than the server spends
on a create; on a 2-core machine the client then measures itself. This client does only
what the benchmark needs (keep-alive, JSON bodies, a chunked watch stream), so the
server's figures are the server's. It also runs its work in several processes
(`run_in_processes`) so that one client process's single core is not the ceiling.
"""

from __future__ import annotations

import asyncio
import bisect
import multiprocessing
import resource
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def tls_context(tls_dir: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
    ctx.load_cert_chain(tls_dir / "admin.crt", tls_dir / "admin.key")
    return ctx


class Conn:
    """One keep-alive connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, ctx: ssl.SSLContext) -> Conn:
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx, limit=1 << 22)
        return cls(reader, writer)

    async def send(self, method: str, path: str, body: bytes = b"", ctype: str = "") -> None:
        head = f"{method} {path} HTTP/1.1\r\nHost: k3os\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Type: {ctype or 'application/json'}\r\n"
            head += f"Content-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)

    async def head(self) -> tuple[int, dict[str, str]]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def request(
        self, method: str, path: str, body: bytes = b"", ctype: str = ""
    ) -> tuple[int, bytes]:
        await self.send(method, path, body, ctype)
        status, headers = await self.head()
        if headers.get("transfer-encoding") == "chunked":
            data = b"".join([chunk async for chunk in self.chunks()])
        else:
            data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return status, data

    async def chunks(self) -> Any:
        while True:
            size = int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            data = await self.reader.readexactly(size + 2)
            if size == 0:
                return
            yield data[:-2]

    def close(self) -> None:
        self.writer.close()


class WatchStream(asyncio.Protocol):
    """A watch read by a bare protocol: each arrival is only kept with its time, and the
    chunked stream is parsed afterwards, so reading 1,000 streams costs the client little
    CPU while the server fans an event out."""

    def __init__(self, request: bytes, lines: int) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.lines = lines
        self.seen = 0
        self.arrivals: list[tuple[bytes, float]] = []
        self.headed: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.arrivals.append((data, time.perf_counter()))
        if not self.headed.done() and b"\r\n\r\n" in b"".join(d for d, _ in self.arrivals):
            self.headed.set_result(None)
        self.seen += data.count(b"}\n")  # a JSON line's end: no newline inside one
        if self.seen >= self.lines and not self.done.done():
            self.done.set_result(None)
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in (self.headed, self.done):
            if not fut.done():
                fut.set_exception(ConnectionError(f"the watch ended early: {exc}"))

    def lines_with_times(self) -> list[tuple[bytes, float]]:
        """Each line of the chunked body, with the time its last byte arrived."""
        data = b"".join(d for d, _ in self.arrivals)
        ends, total = [], 0
        for d, _ in self.arrivals:
            total += len(d)
            ends.append(total)
        out = []
        pos = data.index(b"\r\n\r\n") + 4
        while pos < len(data):
            eol = data.index(b"\r\n", pos)
            size = int(data[pos:eol].split(b";")[0], 16)
            if size == 0:
                break
            chunk_end = eol + 2 + size
            at = self.arrivals[bisect.bisect_left(ends, chunk_end)][1]
            out += [(line, at) for line in data[eol + 2 : chunk_end].splitlines() if line]
            pos = chunk_end + 2
        return out


def cpu_seconds() -> float:
    """CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _child(fn: Callable[..., Any], args: tuple[Any, ...], out: Any) -> None:
    out.send(fn(*args))
    out.close()


def run_in_processes(fn: Callable[..., Any], args_list: list[tuple[Any, ...]]) -> list[Any]:
    """Run fn(*args) in one forked process per args; their results, in order."""
    return start_processes(fn, args_list)()


def start_processes(
    fn: Callable[..., Any], args_list: list[tuple[Any, ...]]
) -> Callable[[], list[Any]]:
    """Start fn(*args) in one forked process per args; call the result to collect theirs."""
    mp = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for args in args_list:
        parent, child = mp.Pipe(duplex=False)
        proc = mp.Process(target=_child, args=(fn, args, child))
        proc.start()
        child.close()
        pipes.append(parent)
        procs.append(proc)

    def collect() -> list[Any]:
        results = [pipe.recv() for pipe in pipes]
        for proc in procs:
            proc.join()
        return results

    return collect
