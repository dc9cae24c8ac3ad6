"""kubeconfig files that kubectl and the Kubernetes clients use as they are."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from k3os.security.files import write_private


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def render_kubeconfig(
    server_url: str,
    ca_pem: bytes,
    *,
    cert_pem: bytes | None = None,
    key_pem: bytes | None = None,
    token: str | None = None,
    name: str = "default",
) -> str:
    """A one-cluster, one-user kubeconfig with everything embedded."""
    user: dict[str, Any] = {}
    if cert_pem is not None and key_pem is not None:
        user["client-certificate-data"] = _b64(cert_pem)
        user["client-key-data"] = _b64(key_pem)
    if token is not None:
        user["token"] = token
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server_url, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_kubeconfig(path: Path, text: str) -> None:
    """Write a kubeconfig readable by its owner only (it holds a private key)."""
    write_private(path, text.encode())
