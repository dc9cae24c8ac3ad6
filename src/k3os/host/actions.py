"""What a plan is made of: file writes and removals, directories, symlinks, live kernel
writes and commands; each can describe itself as a diff.

Actions are plain data computed by the concern modules from (config, root); `apply.py`
carries them out. File content is compared when planning, so an action only exists when
something would change.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, field

Owner = tuple[int, int]


@dataclass(frozen=True)
class FileState:
    """A file as it is now: content, mode bits, owner (None when it does not exist)."""

    content: bytes
    mode: int
    owner: Owner


@dataclass
class WriteFile:
    concern: str
    path: str
    content: bytes
    mode: int = 0o644
    owner: Owner = (0, 0)
    old: FileState | None = None
    secret: bool = False  # do not show content in diffs

    def describe(self) -> str:
        return f"write {self.path}"

    def diff(self) -> str:
        header = []
        if self.old is not None and (self.old.mode & 0o7777) != self.mode:
            header.append(f"mode {oct(self.old.mode & 0o7777)} -> {oct(self.mode)}")
        if self.old is not None and self.old.owner != self.owner:
            header.append(
                f"owner {self.old.owner[0]}:{self.old.owner[1]} -> {self.owner[0]}:{self.owner[1]}"
            )
        if self.old is None:
            header.append(f"new file, mode {oct(self.mode)}, owner {self.owner[0]}:{self.owner[1]}")
        before = b"" if self.old is None else self.old.content
        if before == self.content:
            body = ""
        elif self.secret:
            body = "(content hidden: secret)\n"
        else:
            body = _unified(self.path, before, self.content, created=self.old is None)
        return "".join(f"# {self.path}: {h}\n" for h in header) + body


@dataclass
class RemoveFile:
    concern: str
    path: str
    old: FileState | None = None

    def describe(self) -> str:
        return f"remove {self.path}"

    def diff(self) -> str:
        before = b"" if self.old is None else self.old.content
        return f"# {self.path}: removed\n" + _unified(self.path, before, b"", deleted=True)


@dataclass
class MakeDir:
    concern: str
    path: str
    mode: int = 0o755
    owner: Owner = (0, 0)

    def describe(self) -> str:
        return f"mkdir {self.path}"

    def diff(self) -> str:
        uid, gid = self.owner
        return f"# {self.path}: new directory, mode {oct(self.mode)}, owner {uid}:{gid}\n"


@dataclass
class Symlink:
    concern: str
    path: str
    target: str
    old: str | None = None  # the previous link target, when there was a link

    def describe(self) -> str:
        return f"link {self.path} -> {self.target}"

    def diff(self) -> str:
        was = f" (was -> {self.old})" if self.old else ""
        return f"# {self.path}: symlink -> {self.target}{was}\n"


@dataclass
class KernelWrite:
    """A write to the live kernel (`/proc/sys/...`): sysctl values, the host name."""

    concern: str
    path: str
    value: str
    old: str | None = None

    def describe(self) -> str:
        return f"set {self.path} = {self.value}"

    def diff(self) -> str:
        return f"# {self.path}: {self.old!r} -> {self.value!r} (live kernel)\n"


@dataclass
class Command:
    """A command to run in the phase; `argv` is exactly what will be executed."""

    concern: str
    label: str
    argv: list[str]

    def describe(self) -> str:
        return f"run {self.label}"

    def diff(self) -> str:
        return f"$ {shlex.join(self.argv)}\n"


Change = WriteFile | RemoveFile | MakeDir | Symlink | KernelWrite
Action = Change | Command


def _unified(
    path: str, before: bytes, after: bytes, *, created: bool = False, deleted: bool = False
) -> str:
    try:
        old, new = before.decode(), after.decode()
    except UnicodeDecodeError:
        return f"# {path}: binary content changes ({len(before)} -> {len(after)} bytes)\n"
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile="/dev/null" if created else f"a{path}",
        tofile="/dev/null" if deleted else f"b{path}",
    )
    out = ""
    for line in lines:
        out += line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
    return out


@dataclass
class Plan:
    """Everything one phase would change on one root, in the order it will happen."""

    root: str
    phase: str
    live: bool
    changes: list[Change] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings and things left alone, with why

    @property
    def empty(self) -> bool:
        return not self.changes and not self.commands

    def diff(self) -> str:
        """Unified diffs per file, then the commands that would run."""
        parts = [change.diff() for change in self.changes]
        parts += [command.diff() for command in self.commands]
        parts += [f"# note: {note}\n" for note in self.notes]
        return "".join(parts)
