"""The agent's settings, and the files it keeps in its data dir.

`<data-dir>/agent/` holds the node's credentials (`client.crt`, `client.key`, `ca.crt`, as
the join writes them), the config hash it last applied (`applied-config.json`) and an
upgrade in progress (`upgrade.json`), so a restart, a crash or a (simulated) reboot picks
up where it was.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEASE_NAMESPACE = "kube-node-lease"
REBOOT_EXIT_CODE = 75
"""`k3os agent` exits with this code when it "reboots" in the simulator (then re-executes)."""


@dataclass(frozen=True)
class AgentSettings:
    server: str
    node_name: str
    data_dir: Path
    root: Path | None
    """The root the agent manages; None: register and heartbeat, and answer every config and
    upgrade request that it cannot apply them (`NotManaged`)."""
    token: str = ""
    kubeconfig: Path | None = None
    lease_duration: int = 40
    renew_interval: float = 10.0
    status_interval: float = 60.0
    mode: str = "agent"
    health_command: str | None = None
    health_timeout: float = 120.0
    health_interval: float = 2.0
    reboot_command: str | None = None
    """None: a simulated reboot (the process exits with REBOOT_EXIT_CODE and starts again)."""

    def __post_init__(self) -> None:
        if self.renew_interval <= 0 or self.status_interval <= 0:
            raise ValueError("renew and status intervals must be positive")
        if self.lease_duration < 1:
            raise ValueError(f"lease duration must be at least 1 s, got {self.lease_duration}")

    @property
    def agent_dir(self) -> Path:
        return self.data_dir / "agent"

    @property
    def cert_path(self) -> Path:
        return self.agent_dir / "client.crt"

    @property
    def key_path(self) -> Path:
        return self.agent_dir / "client.key"

    @property
    def ca_path(self) -> Path:
        return self.agent_dir / "ca.crt"


def default_node_name(root: Path | None) -> str:
    """`<root>/etc/hostname` when there is one, else this machine's host name."""
    if root is not None:
        try:
            name = (root / "etc/hostname").read_text().strip()
        except OSError:
            name = ""
        if name:
            return name.lower()
    return socket.gethostname().split(".")[0].lower()


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        json.dump(doc, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
