"""`init_cmd`, `boot_cmd`, `run_cmd`: shell commands of the phase, run in order; the first
failure stops the rest (as in k3OS) and is reported with its exit code and output.

On the live `/` they run as `sh -c CMD`; on another root they run inside it with
`chroot ROOT /bin/sh -c CMD`, so a command can never touch the host by accident. A root
without `/bin/sh` cannot run them: the plan says so instead.
"""

from __future__ import annotations

from k3os.host.actions import Command
from k3os.host.context import Context

KEYS = {"initrd": "init_cmd", "boot": "boot_cmd", "runtime": "run_cmd"}


def plan(ctx: Context) -> list[Command]:
    key = KEYS[ctx.phase]
    entries: list[str] = getattr(ctx.config, key)
    if not entries:
        return []
    if ctx.root.live:
        prefix = ["sh", "-c"]
    elif ctx.root.host_path("/bin/sh", follow=True).exists():
        prefix = ["chroot", str(ctx.root.path), "/bin/sh", "-c"]
    else:
        ctx.notes.append(f"{key}: {len(entries)} command(s) not run: the root has no /bin/sh")
        return []
    return [Command(key, f"{key}[{i}]", [*prefix, cmd]) for i, cmd in enumerate(entries)]
