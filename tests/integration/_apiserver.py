"""A real `k3os server` subprocess for integration tests: TLS on a free loopback port,
SQLite in a temporary data dir, the admin kubeconfig it writes, and a clean SIGTERM stop.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from k3os.sim.server import ServerProcess, free_port


@dataclass
class RunningServer(ServerProcess):
    """The simulator's server process, plus the raw HTTPS helpers tests want."""

    def ssl_context(self, *, client_cert: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.tls / "ca.crt"))
        if client_cert:
            ctx.load_cert_chain(self.tls / "admin.crt", self.tls / "admin.key")
        return ctx

    def get(self, path: str, *, client_cert: bool = True, accept: str = "") -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path)
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(
                req, context=self.ssl_context(client_cert=client_cert), timeout=10
            ) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, path: str, body: object) -> int:
        """POST JSON as the admin over HTTP/1.1; the answer's status."""
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as e:
            return e.code


def _wait_ready(server: RunningServer, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"k3os server exited early:\n{server.log.read_text()}")
        if server.kubeconfig.exists():
            try:
                status, _ = server.get("/readyz")
                if status == 200:
                    return
            except (OSError, ssl.SSLError):
                pass
        time.sleep(0.1)
    raise RuntimeError(f"k3os server not ready in time:\n{server.log.read_text()}")


@contextmanager
def running_server(
    data_dir: Path, extra: Sequence[str] = (), *, controllers: bool = False
) -> Iterator[RunningServer]:
    """The API alone by default: the in-process controllers and node agent would add
    objects (namespace defaults, the node, its events) the API tests do not expect."""
    port = free_port()
    log = data_dir.parent / f"{data_dir.name}-server.log"
    cmd = [
        sys.executable, "-m", "k3os", "--log-level", "info", "server",
        "--data-dir", str(data_dir), "--https-listen-port", str(port), *extra,
    ]  # fmt: skip
    if not controllers:
        cmd += ["--disable-controller-manager", "--disable-agent"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    server = RunningServer(proc, data_dir, port, log)
    try:
        _wait_ready(server, time.monotonic() + 60)
        yield server
    finally:
        server.stop()


def kubectl_env(server: RunningServer, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["KUBECONFIG"] = str(server.kubeconfig)
    env["HOME"] = str(server.data_dir)  # kubectl's discovery cache stays per test server
    env.update(extra)
    return env
