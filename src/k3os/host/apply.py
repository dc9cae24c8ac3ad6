"""Carrying out a plan: file changes as one unit (rolled back on failure), then commands.

File writes are atomic (a temporary file in the same directory, fsync, chmod, chown,
rename). If any change fails, the ones already made are undone in reverse order, and the
report says exactly what was applied, rolled back and not attempted. Commands run after all
changes, in order, with output captured; the first failure stops the rest.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from k3os.host.actions import (
    Change,
    KernelWrite,
    MakeDir,
    Plan,
    RemoveFile,
    Symlink,
    WriteFile,
)
from k3os.host.rootfs import Root

Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


@dataclass
class CommandResult:
    label: str
    argv: list[str]
    exit_code: int
    output: str


@dataclass
class ApplyReport:
    """What happened: `ok` is False when a change failed (all rolled back unless listed in
    `not_rolled_back`) or a command failed."""

    applied: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    not_rolled_back: list[str] = field(default_factory=list)
    not_applied: list[str] = field(default_factory=list)
    commands: list[CommandResult] = field(default_factory=list)
    commands_not_run: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def writes(self) -> int:
        """How many changes stayed applied."""
        return len(self.applied) - len(self.rolled_back)

    def lines(self) -> list[str]:
        out = [f"applied: {a}" for a in self.applied if a not in self.rolled_back]
        out += [f"rolled back: {a}" for a in self.rolled_back]
        out += [f"NOT rolled back (check by hand): {a}" for a in self.not_rolled_back]
        out += [f"not applied: {a}" for a in self.not_applied]
        for result in self.commands:
            status = "ok" if result.exit_code == 0 else f"failed with exit code {result.exit_code}"
            out.append(f"command {result.label}: {status}")
            out += (
                [f"  | {line}" for line in result.output.splitlines()[-20:]]
                if result.exit_code
                else []
            )
        out += [f"command not run: {label}" for label in self.commands_not_run]
        out += [f"error: {self.error}"] if self.error else []
        return out


def _atomic_write(target: Path, change: WriteFile) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.k3os-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(change.content)
            f.flush()
            os.fchmod(f.fileno(), change.mode)
            os.fchown(f.fileno(), *change.owner)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _restore(path: Path, before: tuple[bytes, int, int, int] | str | None) -> None:
    """Put a path back as it was: file state, a symlink target, or absent."""
    if before is None:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        elif path.exists() or path.is_symlink():
            path.unlink()
    elif isinstance(before, str):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        path.symlink_to(before)
    else:
        content, mode, uid, gid = before
        _atomic_write(path, WriteFile("rollback", str(path), content, mode, (uid, gid)))


def _snapshot(path: Path) -> tuple[bytes, int, int, int] | str | None:
    if path.is_symlink():
        return str(path.readlink())
    try:
        st = path.stat()
        if path.is_dir():
            return (b"", st.st_mode & 0o7777, st.st_uid, st.st_gid)
        return (path.read_bytes(), st.st_mode & 0o7777, st.st_uid, st.st_gid)
    except FileNotFoundError:
        return None


def _do(root: Root, change: Change) -> Callable[[], None]:
    """Make one change; return how to undo it."""
    if isinstance(change, KernelWrite):
        proc = Path(change.path)
        old = proc.read_text()
        proc.write_text(change.value)

        def undo_kernel() -> None:
            proc.write_text(old)

        return undo_kernel
    target = root.host_path(change.path, follow=isinstance(change, MakeDir))
    before = _snapshot(target)
    if isinstance(change, MakeDir):
        if target.is_dir() and not target.is_symlink():
            return lambda: None
        target.mkdir(mode=change.mode)
        os.chmod(target, change.mode)
        os.chown(target, *change.owner)
    elif isinstance(change, WriteFile):
        _atomic_write(target, change)
    elif isinstance(change, RemoveFile):
        target.unlink()
    elif isinstance(change, Symlink):
        tmp = target.with_name(f".{target.name}.k3os-link")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(change.target)
        os.replace(tmp, target)
    return lambda: _restore(target, before)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def apply(plan: Plan, *, runner: Runner | None = None) -> ApplyReport:
    """Carry out `plan`; never raises for a failed change or command: see the report."""
    report = ApplyReport()
    root = Root(Path(plan.root))
    undo: list[tuple[str, Callable[[], None]]] = []
    for i, change in enumerate(plan.changes):
        try:
            undo.append((change.describe(), _do(root, change)))
            report.applied.append(change.describe())
        except OSError as e:
            report.error = f"{change.describe()}: {e.strerror or e}"
            report.not_applied = [c.describe() for c in plan.changes[i:]]
            for description, revert in reversed(undo):
                try:
                    revert()
                    report.rolled_back.append(description)
                except OSError:
                    report.not_rolled_back.append(description)
            report.commands_not_run = [c.label for c in plan.commands]
            return report
    run = runner or _run
    for i, command in enumerate(plan.commands):
        try:
            done = run(command.argv)
            result = CommandResult(
                command.label,
                command.argv,
                done.returncode,
                (done.stdout or "") + (done.stderr or ""),
            )
        except OSError as e:
            result = CommandResult(command.label, command.argv, 127, str(e))
        report.commands.append(result)
        if result.exit_code != 0:
            report.error = f"{command.label} failed with exit code {result.exit_code}"
            report.commands_not_run = [c.label for c in plan.commands[i + 1 :]]
            break
    return report
