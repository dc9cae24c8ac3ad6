"""What every concern module gets when planning, and the helpers they share to compare the
wanted state of a file with what is on the root."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from k3os.config import NodeConfig
from k3os.host.actions import Change, FileState, MakeDir, Owner, RemoveFile, WriteFile
from k3os.host.rootfs import STATE_DIR, Accounts, Root

Fetch = Callable[[str], str]  # URL -> body; raises OSError when it cannot


@dataclass
class Context:
    config: NodeConfig
    root: Root
    phase: str
    accounts: Accounts
    fetch: Fetch | None  # None: no network in this phase (remote SSH keys are not fetched)
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    planned_dirs: set[str] = field(default_factory=set)

    # -- reading -------------------------------------------------------------------------
    def state(self, path: str) -> FileState | None:
        target = self.root.host_path(path)
        try:
            st = target.lstat()
            if not stat.S_ISREG(st.st_mode):
                return None
            return FileState(target.read_bytes(), st.st_mode & 0o7777, (st.st_uid, st.st_gid))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def load_state(self, name: str) -> dict[str, object]:
        raw = self.root.read(f"{STATE_DIR}/{name}.json")
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        return data if isinstance(data, dict) else {}

    # -- wanting -------------------------------------------------------------------------
    def want_dirs(self, concern: str, path: str, mode: int = 0o755, owner: Owner = (0, 0)) -> None:
        """Make `path`'s parents exist (created 0755 root, as k3OS did)."""
        parent = os.path.dirname(path)
        missing = []
        while parent not in ("/", "") and parent not in self.planned_dirs:
            if self.root.host_path(parent, follow=True).is_dir():
                break
            missing.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(missing):
            self.planned_dirs.add(directory)
            self.changes.append(MakeDir(concern, directory, mode, owner))

    def want_file(
        self,
        concern: str,
        path: str,
        content: bytes | str,
        *,
        mode: int = 0o644,
        owner: Owner = (0, 0),
        secret: bool = False,
    ) -> bool:
        """Plan `path` to hold exactly this; True when that is a change."""
        data = content.encode() if isinstance(content, str) else content
        old = self.state(path)
        if old is not None and old.content == data and old.mode == mode and old.owner == owner:
            return False
        self.want_dirs(concern, path)
        self.changes.append(WriteFile(concern, path, data, mode, owner, old, secret))
        return True

    def want_absent(self, concern: str, path: str) -> bool:
        old = self.state(path)
        if old is None:
            return False
        self.changes.append(RemoveFile(concern, path, old))
        return True

    def save_state(self, concern: str, name: str, data: dict[str, object]) -> None:
        text = json.dumps(data, indent=1, sort_keys=True) + "\n"
        self.want_file(concern, f"{STATE_DIR}/{name}.json", text, mode=0o600)


def digest(*parts: bytes | str | int) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


BEGIN = "# >>> k3os managed: edits inside this block are replaced on the next apply"
END = "# <<< k3os managed"


def split_block(text: str) -> tuple[list[str], list[str], list[str]]:
    """Lines before, inside and after the managed block (inside empty when there is none)."""
    lines = text.splitlines()
    if BEGIN in lines and END in lines[lines.index(BEGIN) :]:
        start = lines.index(BEGIN)
        end = lines.index(END, start)
        return lines[:start], lines[start + 1 : end], lines[end + 1 :]
    return lines, [], []


def with_block(text: str, body: list[str]) -> str:
    """`text` with its managed block replaced by `body` (dropped when `body` is empty)."""
    before, _, after = split_block(text)
    block = [BEGIN, *body, END] if body else []
    lines = before + block + after
    return "\n".join(lines) + "\n" if lines else ""
