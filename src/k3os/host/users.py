"""Accounts: the built-in `rancher` user and its password (`k3os.password`), and declarative
`users` (created, updated, and removed again when they leave the config).

Edits the root's own `/etc/passwd`, `/etc/shadow` and `/etc/group` (never the host's through
NSS). Users this module created are listed in the state dir, so only those are ever removed;
their home directories are kept.
"""

from __future__ import annotations

import time

from k3os.config import User
from k3os.host.actions import MakeDir
from k3os.host.context import Context
from k3os.host.errors import PlanError
from k3os.host.passwords import shadow_value

CONCERN = "users"
STATE = "users"
DEFAULT_USER = "rancher"


def _table(ctx: Context, path: str) -> list[list[str]]:
    return [line.split(":") for line in (ctx.root.read_text(path) or "").splitlines() if line]


def _text(rows: list[list[str]]) -> str:
    return "".join(":".join(row) + "\n" for row in rows)


def _index(rows: list[list[str]], name: str) -> int | None:
    return next((i for i, row in enumerate(rows) if row[0] == name), None)


def _free_id(passwd: list[list[str]], group: list[list[str]]) -> int:
    used = {int(r[2]) for r in passwd + group if len(r) > 2 and r[2].isdigit()}
    candidate = 1000
    while candidate in used:
        candidate += 1
    return candidate


class _Tables:
    def __init__(self, ctx: Context) -> None:
        self.passwd = _table(ctx, "/etc/passwd")
        self.shadow = _table(ctx, "/etc/shadow")
        self.group = _table(ctx, "/etc/group")

    def ensure(
        self, user: User, password: str | None, *, default: bool = False
    ) -> tuple[int, int, str]:
        at = _index(self.passwd, user.name)
        if at is not None and default:
            row = self.passwd[at]  # the image's own rancher: keep its ids, shell and home
        else:
            uid = user.uid or (
                int(self.passwd[at][2]) if at is not None else _free_id(self.passwd, self.group)
            )
            home = user.home or f"/home/{user.name}"
            row = [user.name, "x", str(uid), str(uid), user.gecos, home, user.shell]
            if at is None:
                self.passwd.append(row)
            else:
                row[3] = self.passwd[at][3]  # keep the primary group of an existing user
                self.passwd[at] = row
        uid, gid, home = int(row[2]), int(row[3]), row[5]
        if not any(g[0] == user.name or (len(g) > 2 and g[2] == str(gid)) for g in self.group):
            self.group.append([user.name, "x", str(gid), ""])
        s = _index(self.shadow, user.name)
        current = self.shadow[s][1] if s is not None else None
        wanted = shadow_value(password, current)
        if s is None:
            self.shadow.append(
                [user.name, wanted, str(int(time.time() // 86400)), "0", "99999", "7", "", "", ""]
            )
        elif wanted != current:
            self.shadow[s][1] = wanted
            self.shadow[s][2] = str(int(time.time() // 86400))
        return uid, gid, home

    def set_groups(self, name: str, groups: list[str]) -> None:
        for g in groups:
            if _index(self.group, g) is None:
                raise PlanError(f"users: {name}: group {g!r} does not exist on this root")
        for row in self.group:
            while len(row) < 4:
                row.append("")
            members = [m for m in row[3].split(",") if m and m != name]
            if row[0] in groups:
                members.append(name)
            row[3] = ",".join(members)

    def remove(self, name: str) -> None:
        self.passwd = [r for r in self.passwd if r[0] != name]
        self.shadow = [r for r in self.shadow if r[0] != name]
        self.group = [r for r in self.group if r[0] != name]
        self.set_groups(name, [])


def plan(ctx: Context) -> None:
    k3os = ctx.config.k3os
    tables = _Tables(ctx)
    wants_default = bool(k3os.password or ctx.config.ssh_authorized_keys)
    homes: list[tuple[str, int, int]] = []
    if wants_default or _index(tables.passwd, DEFAULT_USER) is not None:
        default = User.model_construct(
            name=DEFAULT_USER, uid=None, home=None, gecos="", shell="/bin/sh", groups=[]
        )
        tables.ensure(default, k3os.password, default=True)
        homes.append(_home(tables, DEFAULT_USER))
    managed = [u.name for u in ctx.config.users]
    recorded = ctx.load_state(STATE)
    previous = recorded.get("managed")
    for old in previous if isinstance(previous, list) else []:
        if isinstance(old, str) and old not in managed:
            tables.remove(old)
            ctx.notes.append(f"users: removed {old} (its home directory is kept)")
    for user in ctx.config.users:
        tables.ensure(user, user.password)
        tables.set_groups(user.name, user.groups)
        homes.append(_home(tables, user.name))
    for path, rows, mode in (
        ("/etc/passwd", tables.passwd, 0o644),
        ("/etc/group", tables.group, 0o644),
        ("/etc/shadow", tables.shadow, 0o640),
    ):
        existing = ctx.state(path)
        if existing is None and not rows:
            continue
        mode, owner = (existing.mode, existing.owner) if existing else (mode, (0, 0))
        secret = path == "/etc/shadow"
        ctx.want_file(CONCERN, path, _text(rows), mode=mode, owner=owner, secret=secret)
    for row in tables.passwd:
        if len(row) >= 7 and row[2].isdigit() and row[3].isdigit():
            ctx.accounts.users[row[0]] = (int(row[2]), int(row[3]), row[5])
    for row in tables.group:
        if len(row) >= 3 and row[2].isdigit():
            ctx.accounts.groups[row[0]] = int(row[2])
    for home, uid, gid in homes:
        if not ctx.root.host_path(home, follow=True).exists() and home not in ctx.planned_dirs:
            ctx.want_dirs(CONCERN, home)
            ctx.planned_dirs.add(home)
            ctx.changes.append(MakeDir(CONCERN, home, 0o750, (uid, gid)))
    state: dict[str, object] = {"managed": managed}
    if state != recorded and (managed or recorded):
        ctx.save_state(CONCERN, STATE, state)


def _home(tables: _Tables, name: str) -> tuple[str, int, int]:
    row = tables.passwd[_index(tables.passwd, name) or 0]
    return row[5], int(row[2]), int(row[3])
