"""Which concern applies in which phase, and `plan()`, which asks each of them in order.

Phases: `initrd` (early, before the real root is set up: no network, `/home` may be absent),
`boot` (the root is up, no network yet) and `runtime` (network is online; remote SSH keys are
fetched). Every phase sees the whole merged config; file-based settings are applied again in
each phase where they are listed, which changes nothing when nothing changed.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

from k3os.config import NodeConfig
from k3os.host import (
    commands,
    environment,
    files,
    hostname,
    modules,
    network,
    node,
    resolver,
    sshkeys,
    sysctl,
    users,
    wifi,
)
from k3os.host.actions import Change, Command, MakeDir, Plan
from k3os.host.context import Context, Fetch
from k3os.host.errors import HostError
from k3os.host.rootfs import Accounts, Root, resolve_root

PHASES = ("initrd", "boot", "runtime")
_ALL = PHASES
_LATE = ("boot", "runtime")

# (config keys, phases, planner): the order is the order of application.
CONCERNS: list[tuple[str, tuple[str, ...], Callable[[Context], list[Command] | None]]] = [
    ("hostname", _ALL, hostname.plan),
    ("k3os.modules", _ALL, modules.plan),
    ("k3os.sysctl", _ALL, sysctl.plan),
    ("network", _ALL, network.plan),
    ("k3os.dns_nameservers", _ALL, resolver.plan_dns),
    ("k3os.ntp_servers", _LATE, resolver.plan_ntp),
    ("k3os.wifi", _LATE, wifi.plan),
    ("users, k3os.password", _LATE, users.plan),
    ("ssh_authorized_keys", _LATE, sshkeys.plan),
    ("k3os.environment", _ALL, environment.plan),
    ("k3os.server_url, token, labels, taints, k3s_args", _LATE, node.plan),
    ("write_files", _ALL, files.plan),
    ("init_cmd / boot_cmd / run_cmd", _ALL, commands.plan),
]


def phase_table() -> list[tuple[str, tuple[str, ...]]]:
    """(keys, phases) rows, as documented in the README."""
    rows = [(keys, phases) for keys, phases, _ in CONCERNS if not keys.startswith("init_cmd")]
    rows += [("init_cmd", ("initrd",)), ("boot_cmd", ("boot",)), ("run_cmd", ("runtime",))]
    return rows


def fetch_url(url: str, timeout: float = 10.0) -> str:
    """GET a URL as text (raises OSError on failure)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode("utf-8", "replace")


def plan(
    config: NodeConfig,
    root: str | Path | Root | None,
    phase: str = "runtime",
    *,
    fetch: Fetch | None = None,
) -> Plan:
    """Everything `phase` would change on `root` to match `config`; reads, never writes.

    `root=None` means the running host's `/`, refused unless this is a booted k3os system.
    `fetch` gets remote SSH keys in the runtime phase (default: HTTP GET).
    """
    if phase not in PHASES:
        raise HostError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
    target = root if isinstance(root, Root) else resolve_root(root)
    ctx = Context(
        config=config,
        root=target,
        phase=phase,
        accounts=Accounts.read(target),
        fetch=(fetch or fetch_url) if phase == "runtime" else None,
    )
    result = Plan(str(target.path), phase, target.live)
    for _, phases, planner in CONCERNS:
        if phase in phases:
            result.commands += planner(ctx) or []
    result.changes = _last_writer_wins(ctx)
    result.notes = ctx.notes
    return result


def _last_writer_wins(ctx: Context) -> list[Change]:
    """A path planned twice (e.g. by write_files and a concern) keeps the later action."""
    seen: dict[str, int] = {}
    for i, change in enumerate(ctx.changes):
        if change.path in seen and not isinstance(change, MakeDir):
            earlier = ctx.changes[seen[change.path]].concern
            ctx.notes.append(f"{change.path}: {change.concern} overrides {earlier}")
        seen[change.path] = i
    return [c for i, c in enumerate(ctx.changes) if seen[c.path] == i]
