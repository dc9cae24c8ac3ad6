"""`write_files`: atomic writes with owner and mode, written in every phase but never over a
local edit.

k3OS rewrote every file in every phase, so a `boot_cmd` that edited a written file saw its
edit undone at runtime (k3OS #93). Here the digest of what was last written is kept in the
state dir: a file is (re)written when the config entry changed or the file is missing; a file
whose entry is unchanged but whose content was edited on the node since is left alone.
"""

from __future__ import annotations

from k3os.host.context import Context, digest
from k3os.host.errors import PlanError

CONCERN = "write_files"
STATE = "write_files"


def plan(ctx: Context) -> None:
    recorded = ctx.load_state(STATE)
    state: dict[str, object] = {}
    for entry in ctx.config.write_files:
        try:
            owner = ctx.accounts.owner(entry.owner)
        except PlanError:
            if ctx.phase != "initrd":
                raise
            # users are created in the boot phase; the file follows them there
            ctx.notes.append(
                f"{entry.path}: owner {entry.owner} does not exist yet; written at boot"
            )
            if entry.path in recorded:
                state[entry.path] = recorded[entry.path]
            continue
        content = entry.decoded()
        wanted = digest(content, entry.mode, owner[0], owner[1])
        state[entry.path] = wanted
        current = ctx.state(entry.path)
        if current is not None and recorded.get(entry.path) == wanted:
            if (current.content, current.mode, current.owner) != (content, entry.mode, owner):
                ctx.notes.append(
                    f"{entry.path}: edited on the node since k3os wrote it; left alone"
                )
            continue
        ctx.want_file(CONCERN, entry.path, content, mode=entry.mode, owner=owner)
    if state != recorded:
        ctx.save_state(CONCERN, STATE, state)
