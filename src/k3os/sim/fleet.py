"""A fleet of simulated nodes: one real `k3os agent` process per node, each on its own
temporary root installed from a real signed bundle, with its own node certificate (real
TLS, the Node authorizer's rules), beside a pod status faker.

The agent re-executes itself to "reboot" (boot selection runs first on its root), so an
upgrade, a health check that fails and a fallback happen exactly as on a box. Intervals
are short so a fleet of 20 rolls an upgrade within a minute or two on two cores.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from k3os.security.pki import issue, load_pair, save_pair
from k3os.sim.images import SigningKey, install_root
from k3os.sim.server import ServerProcess

__all__ = ["AgentTiming", "Fleet", "FleetNode"]


@dataclass(frozen=True)
class AgentTiming:
    lease_renew: str = "1s"
    status: str = "3s"
    health_timeout: str = "10s"


@dataclass
class FleetNode:
    name: str
    root: Path
    data: Path
    log: Path
    labels: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Fleet:
    server: ServerProcess
    work: Path
    signer: SigningKey
    base_bundle: Path
    timing: AgentTiming = field(default_factory=AgentTiming)
    log_level: str = "info"
    nodes: dict[str, FleetNode] = field(default_factory=dict)
    kubelet: subprocess.Popen[bytes] | None = None

    def credentials(self, node: FleetNode) -> None:
        """What a join leaves in `<data>/agent/`: a system:node certificate and the CA."""
        tls = self.server.tls
        ca = load_pair(tls / "ca.crt", tls / "ca.key")
        cert, key = issue(
            ca, f"system:node:{node.name}", organizations=["system:nodes"], client=True
        )
        assert key is not None
        agent = node.data / "agent"
        agent.mkdir(parents=True, exist_ok=True)
        save_pair(cert, key, agent / "client.crt", agent / "client.key")
        (agent / "ca.crt").write_bytes((tls / "ca.crt").read_bytes())

    def add(self, name: str, labels: dict[str, str] | None = None) -> FleetNode:
        """Install a root for `name` and start its agent."""
        base = self.work / name
        node = FleetNode(name, base / "root", base / "data", base / "agent.log", dict(labels or {}))
        install_root(node.root, self.base_bundle, self.signer, name, node.labels)
        self.credentials(node)
        self.nodes[name] = node
        self.start(name)
        return node

    def command(self, node: FleetNode) -> list[str]:
        t = self.timing
        return [
            sys.executable, "-m", "k3os", "--log-level", self.log_level, "agent",
            "--server", self.server.url, "--data-dir", str(node.data), "--root", str(node.root),
            "--node-name", node.name, "--lease-renew-interval", t.lease_renew,
            "--status-interval", t.status, "--health-timeout", t.health_timeout,
        ]  # fmt: skip

    def start(self, name: str) -> None:
        node = self.nodes[name]
        if node.running:
            return
        with node.log.open("ab") as out:
            node.proc = subprocess.Popen(
                self.command(node), stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ)
            )

    def start_kubelet(self) -> None:
        """The pod status faker for every node of this fleet."""
        if self.kubelet is not None and self.kubelet.poll() is None:
            return
        self.work.mkdir(parents=True, exist_ok=True)
        log = self.work / "kubelet.log"
        cmd = [
            sys.executable, "-m", "k3os.sim.kubelet", "--kubeconfig", str(self.server.kubeconfig),
        ]  # fmt: skip
        with log.open("ab") as out:
            self.kubelet = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)

    def kill(self, name: str) -> None:
        """SIGKILL one node's agent (a power cut)."""
        proc = self.nodes[name].proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        procs = [n.proc for n in self.nodes.values() if n.proc is not None]
        if self.kubelet is not None:
            procs.append(self.kubelet)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
