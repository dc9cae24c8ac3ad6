"""Helpers for the agent integration tests: agent subprocesses that join with the server's
token on temporary roots, servers on a fixed port (to restart them), CRDs, and polling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.integration._apiserver import RunningServer, kubectl_env

T = TypeVar("T")


@dataclass
class RunningAgent:
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_agent(
    server: RunningServer, work: Path, node: str, extra: Sequence[str] = ()
) -> Iterator[RunningAgent]:
    root = work / f"{node}-root"
    data = work / f"{node}-data"
    root.mkdir(parents=True, exist_ok=True)
    token = (server.data_dir / "server" / "node-token").read_text().strip()
    log = work / f"{node}-agent.log"
    cmd = [
        sys.executable, "-m", "k3os", "--log-level", "debug", "agent",
        "--server", server.url, "--data-dir", str(data), "--root", str(root),
        "--node-name", node, "--token", token, "--lease-renew-interval", "1s",
        "--status-interval", "2s", "--health-timeout", "10s", *extra,
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    agent = RunningAgent(proc, log)
    try:
        yield agent
    finally:
        agent.stop()


def kubectl(server: RunningServer, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "kubectl"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=kubectl_env(server),
        timeout=60,
    )
    if done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout


def get_json(server: RunningServer, *args: str) -> Any:
    return json.loads(kubectl(server, "get", *args, "-o", "json"))


def eventually(
    probe: Callable[[], T | None], what: str, timeout: float = 60, log: Path | None = None
) -> T:
    """Poll `probe` until it returns something truthy (no timing assertions: a generous
    deadline only turns a hang into a readable failure)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (AssertionError, KeyError, ValueError) as e:
            last_error, value = e, None
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:] if log else ""
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error})\n{tail}")


CRDS = Path(__file__).resolve().parents[2] / "src" / "k3os" / "apis" / "crds"


def install_crds(server: RunningServer) -> None:
    for path in sorted(CRDS.glob("*.yaml")):
        kubectl(server, "apply", "-f", str(path))
    for name in ("renderednodeconfigs.k3os.io", "plans.upgrade.cattle.io"):
        kubectl(server, "wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")


@contextmanager
def server_on_port(data_dir: Path, port: int) -> Iterator[RunningServer]:
    """A `k3os server` on a fixed port (to restart one at the same address)."""
    from tests.integration import _apiserver

    log = data_dir.parent / f"{data_dir.name}-server.log"
    cmd = [
        sys.executable, "-m", "k3os", "--log-level", "info", "server", "--disable-agent",
        "--disable-controller-manager",
        "--data-dir", str(data_dir), "--https-listen-port", str(port),
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    server = RunningServer(proc, data_dir, port, log)
    try:
        _apiserver._wait_ready(server, time.monotonic() + 60)
        yield server
    finally:
        server.stop()
