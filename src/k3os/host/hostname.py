"""Host name: `/etc/hostname`, the `127.0.1.1` line of `/etc/hosts`, and the live kernel.

Unset, a name `k3os-NNNNN` is generated once and kept in `/var/lib/rancher/k3os/hostname`
(as k3OS did), unless the root already has an `/etc/hostname`.
"""

from __future__ import annotations

import secrets

from k3os.host.actions import KernelWrite
from k3os.host.context import Context

CONCERN = "hostname"
GENERATED = "/var/lib/rancher/k3os/hostname"
DEFAULT_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def _name(ctx: Context) -> str | None:
    if ctx.config.hostname:
        return ctx.config.hostname
    kept = (ctx.root.read_text(GENERATED) or "").strip()
    if kept:
        return kept
    if (ctx.root.read_text("/etc/hostname") or "").strip():
        return None  # the image's own name: leave it
    name = f"k3os-{secrets.randbelow(100000):05d}"
    ctx.want_file(CONCERN, GENERATED, name + "\n")
    return name


def hosts_with(text: str, name: str) -> str:
    short = name.split(".")[0]
    entry = f"127.0.1.1\t{name}" + (f" {short}" if short != name else "")
    lines = [line for line in text.splitlines() if not line.startswith("127.0.1.1")]
    lines.append(entry)
    return "\n".join(lines) + "\n"


def plan(ctx: Context) -> None:
    name = _name(ctx)
    if name is None:
        return
    ctx.want_file(CONCERN, "/etc/hostname", name + "\n")
    hosts = ctx.root.read_text("/etc/hosts") or DEFAULT_HOSTS
    ctx.want_file(CONCERN, "/etc/hosts", hosts_with(hosts, name))
    if ctx.root.live:
        current = (ctx.root.read_text("/proc/sys/kernel/hostname") or "").strip()
        if current != name:
            ctx.changes.append(KernelWrite(CONCERN, "/proc/sys/kernel/hostname", name, current))
