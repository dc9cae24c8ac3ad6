"""A `k3os server` subprocess for the simulator and the demo: SQLite in a data dir, TLS on a
free loopback port, ready once `/readyz` answers; stopped with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerProcess", "free_port", "start_server"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"

    @property
    def tls(self) -> Path:
        return self.data_dir / "server" / "tls"

    @property
    def images(self) -> Path:
        """Where the server serves bundles from (`GET /v1-k3os/images/<name>`)."""
        return self.data_dir / "server" / "images"

    def ready(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.tls / "ca.crt"))
        ctx.load_cert_chain(self.tls / "admin.crt", self.tls / "admin.key")
        try:
            with urllib.request.urlopen(self.url + "/readyz", context=ctx, timeout=5) as resp:
                return bool(resp.status == 200)
        except (OSError, ssl.SSLError, urllib.error.URLError):
            return False

    def api_workers(self) -> list[int]:
        """The pids of the server's API worker processes (`--api-workers`), now."""
        kids: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            try:
                kids += [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
        return [pid for pid in kids if b"api-worker" in _cmdline(pid)]

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed or released."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return int(self.proc.returncode)


def start_server(
    data_dir: Path,
    extra: Sequence[str] = (),
    *,
    port: int | None = None,
    timeout: float = 60,
    log_level: str = "info",
) -> ServerProcess:
    """Start `k3os server` on `data_dir` (on `port`, default a free one) and return once it
    serves (or raise RuntimeError)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = data_dir.parent / f"{data_dir.name}-server.log"
    cmd = [
        sys.executable, "-m", "k3os", "--log-level", log_level, "server",
        "--data-dir", str(data_dir), "--https-listen-port", str(port), *extra,
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    server = ServerProcess(proc, data_dir, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"k3os server exited early:\n{log.read_text()[-4000:]}")
        if server.kubeconfig.exists() and server.ready():
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"k3os server not ready in {timeout:.0f}s:\n{log.read_text()[-4000:]}")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
