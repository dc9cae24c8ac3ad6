"""Starts a real etcd (Debian's etcd-server) on free loopback ports for the store tests."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class EtcdServer:
    url: str  # etcd://127.0.0.1:PORT
    client_url: str  # http(s)://127.0.0.1:PORT
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def run_etcd(workdir: Path, tls: dict[str, Path] | None = None) -> Iterator[EtcdServer]:
    """Run etcd in `workdir` until the block ends. `tls` (ca, cert, key) makes the client
    port HTTPS with client-certificate authentication."""
    client_port, peer_port = free_port(), free_port()
    scheme = "https" if tls else "http"
    client_url = f"{scheme}://127.0.0.1:{client_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    args = [
        ETCD,
        "--name=test",
        f"--data-dir={workdir / 'etcd-data'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=test={peer_url}",
        "--log-level=error",
        "--logger=zap",
    ]
    if tls:
        args += [
            f"--cert-file={tls['cert']}",
            f"--key-file={tls['key']}",
            f"--trusted-ca-file={tls['ca']}",
            "--client-cert-auth",
        ]
    log = (workdir / "etcd.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(process, client_port, workdir, tls is not None)
        yield EtcdServer(f"etcd://127.0.0.1:{client_port}", client_url, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(process: subprocess.Popen[bytes], port: int, workdir: Path, tls: bool) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"etcd exited: {(workdir / 'etcd.log').read_text()[-2000:]}")
        try:
            if tls:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    time.sleep(0.5)  # listening; give raft a moment to elect itself
                    return
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if b'"true"' in r.read():
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("etcd did not become ready within 30 s")
