"""Managed SSH keys: `ssh_authorized_keys` of `rancher` (and each declarative user's own).

The keys live in a managed block of `~/.ssh/authorized_keys`: a key removed from the config
leaves the node, keys added by hand outside the block stay. `github:USER`, `gitlab:USER` and
`https://…` entries are fetched only when the phase has network (runtime); before that, or
when a fetch fails, the keys last fetched for that entry (kept in the block under a
`# from ENTRY` line) are reused and the plan says so.
"""

from __future__ import annotations

from k3os.host.actions import MakeDir
from k3os.host.context import Context, split_block, with_block

CONCERN = "ssh_authorized_keys"
FROM = "# from "


def source_url(entry: str) -> str | None:
    """The URL to fetch an entry from, or None for a plain key."""
    if entry.startswith("github:"):
        return f"https://github.com/{entry.removeprefix('github:')}.keys"
    if entry.startswith("gitlab:"):
        return f"https://gitlab.com/{entry.removeprefix('gitlab:')}.keys"
    if entry.startswith(("https://", "http://")):
        return entry
    return None


def _previous(block: list[str]) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in block:
        if line.startswith(FROM):
            current = sections.setdefault(line.removeprefix(FROM), [])
        elif current is not None:
            current.append(line)
    return sections


def _body(ctx: Context, who: str, entries: list[str], old_block: list[str]) -> list[str]:
    plain = [e.strip() for e in entries if source_url(e) is None and e.strip()]
    remote: list[str] = []
    previous = _previous(old_block)
    for entry in entries:
        url = source_url(entry)
        if url is None:
            continue
        keys: list[str] | None = None
        if ctx.fetch is not None:
            try:
                text = ctx.fetch(url)
                keys = [k.strip() for k in text.splitlines() if k.strip() and not k.startswith("#")]
            except OSError as e:
                ctx.notes.append(
                    f"{who}: cannot fetch {entry} ({e}); keeping the keys fetched before"
                )
        if keys is None:
            keys = previous.get(entry, [])
            if ctx.fetch is None and not keys:
                ctx.notes.append(f"{who}: {entry} is fetched in the runtime phase (needs network)")
        remote += [FROM + entry, *keys]
    return plain + remote


def plan_user(ctx: Context, user: str, entries: list[str]) -> None:
    if user not in ctx.accounts.users:
        return
    uid, gid, home = ctx.accounts.users[user]
    path = f"{home.rstrip('/')}/.ssh/authorized_keys"
    current = ctx.root.read_text(path)
    if current is None and not entries:
        return
    _, old_block, _ = split_block(current or "")
    text = with_block(current or "", _body(ctx, f"{CONCERN} of {user}", entries, old_block))
    ssh_dir = f"{home.rstrip('/')}/.ssh"
    if not ctx.root.host_path(ssh_dir, follow=True).is_dir() and ssh_dir not in ctx.planned_dirs:
        ctx.want_dirs(CONCERN, ssh_dir)
        ctx.planned_dirs.add(ssh_dir)
        ctx.changes.append(MakeDir(CONCERN, ssh_dir, 0o700, (uid, gid)))
    ctx.want_file(CONCERN, path, text, mode=0o600, owner=(uid, gid))


def plan(ctx: Context) -> None:
    plan_user(ctx, "rancher", ctx.config.ssh_authorized_keys)
    for user in ctx.config.users:
        plan_user(ctx, user.name, user.ssh_authorized_keys)
