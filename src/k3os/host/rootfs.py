"""The root directory being configured: path confinement, reading state, accounts lookup.

A root is "live" when it is the running system's `/`: only then are kernel settings
(`/proc/sys`, modprobe, the host name) changed and commands run directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from k3os.host.errors import HostError, PlanError, RootRefused

OS_RELEASE_ID = "k3os"
STATE_DIR = "/var/lib/rancher/k3os/state"


def booted_k3os(os_release: Path = Path("/etc/os-release")) -> bool:
    """True on a booted k3os image (os-release ID=k3os) when running as root."""
    try:
        text = os_release.read_text()
    except OSError:
        return False
    ids = [
        line.split("=", 1)[1].strip().strip('"')
        for line in text.splitlines()
        if line.startswith("ID=")
    ]
    return ids == [OS_RELEASE_ID] and os.geteuid() == 0


def resolve_root(root: str | Path | None, *, on_k3os: bool | None = None) -> Root:
    """The root to configure. `None` means `/`, allowed only on a booted k3os system;
    an explicit `"/"` is always allowed (the operator asked for it)."""
    if root is None:
        if not (booted_k3os() if on_k3os is None else on_k3os):
            raise RootRefused(
                "refusing to change this host's / (not a booted k3os system); "
                "pass --root / to do it anyway, or --root DIR for another root"
            )
        root = "/"
    path = Path(root).resolve()
    if not path.is_dir():
        raise HostError(f"root {root} is not a directory")
    return Root(path)


@dataclass
class Root:
    path: Path
    live: bool = field(init=False)

    def __post_init__(self) -> None:
        self.live = self.path == Path("/")

    def host_path(self, path: str, *, follow: bool = False) -> Path:
        """`/etc/hostname` inside the root. Symlinks in the parent directories resolve as
        they would after `chroot ROOT` (absolute targets start at the root, `..` stops
        there), so no path can lead out of the root; the last component is followed only
        with `follow=True`."""
        if not path.startswith("/") or ".." in path.split("/"):
            raise HostError(f"not an absolute, normalised path: {path}")
        parts = [p for p in path.split("/") if p]
        if self.live or not parts:
            return self.path / "/".join(parts)
        if follow:
            return self._resolve_dir(parts)
        return self._resolve_dir(parts[:-1]) / parts[-1]

    def _resolve_dir(self, parts: list[str]) -> Path:
        resolved: list[str] = []
        pending = list(parts)
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                resolved = resolved[:-1]
                continue
            candidate = self.path.joinpath(*resolved, part)
            if candidate.is_symlink():
                hops += 1
                if hops > 40:
                    raise HostError(f"too many symlinks under {self.path}")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                pending = [p for p in target.split("/") if p] + pending
                continue
            resolved.append(part)
        return self.path.joinpath(*resolved)

    def read(self, path: str) -> bytes | None:
        try:
            return self.host_path(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_text(self, path: str) -> str | None:
        data = self.read(path)
        return None if data is None else data.decode("utf-8", "replace")


@dataclass
class Accounts:
    """Users and groups of the root (from its own /etc/passwd and /etc/group, not the host's)."""

    users: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # name -> uid, gid, home
    groups: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Root) -> Accounts:
        accounts = cls({}, {})
        for line in (root.read_text("/etc/passwd") or "").splitlines():
            parts = line.split(":")
            if len(parts) >= 7 and parts[2].isdigit() and parts[3].isdigit():
                accounts.users[parts[0]] = (int(parts[2]), int(parts[3]), parts[5])
        for line in (root.read_text("/etc/group") or "").splitlines():
            parts = line.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                accounts.groups[parts[0]] = int(parts[2])
        accounts.users.setdefault("root", (0, 0, "/root"))
        accounts.groups.setdefault("root", 0)
        return accounts

    def owner(self, spec: str) -> tuple[int, int]:
        """`user`, `user:group`, `uid:gid` -> numeric ids; HostError if a name is unknown."""
        user, _, group = spec.partition(":")
        if user.isdigit():
            uid, gid = int(user), int(user)
        elif user in self.users:
            uid, gid = self.users[user][0], self.users[user][1]
        else:
            raise PlanError(f"owner {spec!r}: no user {user!r} on this root")
        if group:
            if group.isdigit():
                gid = int(group)
            elif group in self.groups:
                gid = self.groups[group]
            else:
                raise PlanError(f"owner {spec!r}: no group {group!r} on this root")
        return uid, gid
