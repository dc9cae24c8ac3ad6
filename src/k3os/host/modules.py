"""Kernel modules: `/etc/modules-load.d/k3os.conf` (names) and `/etc/modprobe.d/k3os.conf`
(parameters); loaded with modprobe when the root is live and the module is not loaded."""

from __future__ import annotations

from k3os.host.actions import Command
from k3os.host.context import Context

CONCERN = "modules"
LOAD = "/etc/modules-load.d/k3os.conf"
OPTIONS = "/etc/modprobe.d/k3os.conf"


def plan(ctx: Context) -> list[Command]:
    entries = [m.split() for m in ctx.config.k3os.modules if m.strip()]
    if not entries:
        ctx.want_absent(CONCERN, LOAD)
        ctx.want_absent(CONCERN, OPTIONS)
        return []
    header = "# Written by k3os from k3os.modules.\n"
    ctx.want_file(CONCERN, LOAD, header + "".join(f"{e[0]}\n" for e in entries))
    options = "".join(f"options {e[0]} {' '.join(e[1:])}\n" for e in entries if len(e) > 1)
    if options:
        ctx.want_file(CONCERN, OPTIONS, header + options)
    else:
        ctx.want_absent(CONCERN, OPTIONS)
    if not ctx.root.live:
        return []
    loaded = {
        line.split()[0].replace("-", "_")
        for line in (ctx.root.read_text("/proc/modules") or "").splitlines()
        if line
    }
    return [
        Command(CONCERN, f"modprobe {e[0]}", ["modprobe", *e])
        for e in entries
        if e[0].replace("-", "_") not in loaded
    ]
