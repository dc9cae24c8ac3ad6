"""Kubernetes node settings (`k3os.server_url`, `token`, `labels`, `taints`, `k3s_args`),
written for the node agent to `/etc/k3os/agent.yaml` (mode 0600: it holds the join token).

Shape of the file, read by the agent: `role` (`server`, or `agent` when a server URL is
set), `server_url`, `token`, `node_labels` (map), `node_taints` (list), `args` (list).
The file is removed when none of these settings is configured.
"""

from __future__ import annotations

from typing import Any

import yaml

from k3os.host.context import Context

CONCERN = "node"
PATH = "/etc/k3os/agent.yaml"


def settings(ctx: Context) -> dict[str, Any] | None:
    k = ctx.config.k3os
    if not (k.server_url or k.token or k.labels or k.taints or k.k3s_args):
        return None
    role = k.k3s_args[0] if k.k3s_args else ("agent" if k.server_url else "server")
    out: dict[str, Any] = {"role": role}
    if k.server_url:
        out["server_url"] = k.server_url
    if k.token:
        out["token"] = k.token
    out["node_labels"] = dict(k.labels)
    out["node_taints"] = list(k.taints)
    out["args"] = list(k.k3s_args[1:])
    return out


def plan(ctx: Context) -> None:
    wanted = settings(ctx)
    if wanted is None:
        ctx.want_absent(CONCERN, PATH)
        return
    text = "# Written by k3os from the k3os: node settings.\n" + yaml.safe_dump(
        wanted, sort_keys=False
    )
    ctx.want_file(CONCERN, PATH, text, mode=0o600, secret=True)
