"""Kernel parameters: persisted in `/etc/sysctl.d/90-k3os.conf`; written to `/proc/sys`
only when the root is the live `/` and the value differs."""

from __future__ import annotations

from k3os.host.actions import KernelWrite
from k3os.host.context import Context

CONCERN = "sysctl"
PATH = "/etc/sysctl.d/90-k3os.conf"


def proc_path(key: str) -> str:
    """`net.ipv4.ip_forward` -> `/proc/sys/net/ipv4/ip_forward` (a `/` form is kept as is)."""
    return "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))


def plan(ctx: Context) -> None:
    settings = ctx.config.k3os.sysctl
    if not settings:
        ctx.want_absent(CONCERN, PATH)
        return
    body = "".join(f"{key} = {value}\n" for key, value in settings.items())
    ctx.want_file(CONCERN, PATH, "# Written by k3os from k3os.sysctl.\n" + body)
    if ctx.root.live:
        for key, value in settings.items():
            current = ctx.root.read_text(proc_path(key))
            if current is None or current.split() != value.split():
                ctx.changes.append(
                    KernelWrite(CONCERN, proc_path(key), value, current and current.strip())
                )
