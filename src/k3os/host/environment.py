"""`/etc/environment`: the `k3os.environment` variables in a managed block; lines written
by hand outside the block stay, and a variable removed from the config leaves the file."""

from __future__ import annotations

from k3os.host.context import Context, with_block

CONCERN = "environment"
PATH = "/etc/environment"


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plan(ctx: Context) -> None:
    body = [f"{key}={quote(value)}" for key, value in ctx.config.k3os.environment.items()]
    current = ctx.root.read_text(PATH)
    wanted = with_block(current or "", body)
    if current is None and not wanted:
        return
    ctx.want_file(CONCERN, PATH, wanted)
