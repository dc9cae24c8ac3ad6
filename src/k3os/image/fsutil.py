"""Crash-safe file system steps: fsync + rename, atomic pointer switches, directory exchange.

Every change to the state area goes through these helpers, so a power cut leaves either the
old or the new file, never a half-written one. `crash_point` lets tests kill the process with
SIGKILL at a named step (set `K3OS_TEST_CRASH_AT=<name>`).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from k3os.image.errors import BusyError

CRASH_ENV: Final = "K3OS_TEST_CRASH_AT"
_RENAME_EXCHANGE: Final = 2


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if the test harness asked to crash at `name`."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (creates, renames, unlinks) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fchmod(fd, mode)
        os.fsync(fd)
    os.rename(tmp, path)
    fsync_dir(path.parent)


def atomic_symlink(path: Path, target: str) -> None:
    """Point the symlink `path` at `target` in one rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    crash_point(f"symlink-{path.name}-tmp")
    os.rename(tmp, path)
    fsync_dir(path.parent)


def remove_link(path: Path) -> None:
    """Remove a pointer if it exists, durably."""
    if path.is_symlink() or path.exists():
        path.unlink()
        fsync_dir(path.parent)


def exchange(a: Path, b: Path) -> None:
    """Swap two directory entries atomically (renameat2 RENAME_EXCHANGE)."""
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd = -100
    rc = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot exchange {a} and {b}: {os.strerror(err)}")
    fsync_dir(a.parent)
    if b.parent != a.parent:
        fsync_dir(b.parent)


def remove_tree(path: Path) -> None:
    """Delete a directory tree; a missing tree is not an error."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


@contextlib.contextmanager
def exclusive(lock_file: Path, what: str) -> Iterator[None]:
    """Hold an flock on `lock_file`; fail at once if another process holds it."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise BusyError(f"{lock_file}: {what} is already running in another process") from e
        yield
    finally:
        os.close(fd)
