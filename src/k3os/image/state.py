"""The state area: versioned system directories, `current`/`previous` pointers, boot record.

Layout (relative to the state area, which is the `K3OS_STATE` partition, mounted at
`<root>/k3os/state` on a running box):

    system/<version>/{manifest.json,manifest.sig,rootfs.squashfs,vmlinuz,initrd}
    system/current -> <version>      symlinks, switched by rename
    system/previous -> <version>
    boot.json                        the boot record (trial, booted, last failure)
    trusted-keys/*.pub               keys a bundle must be signed with
    config.yaml                      the node config written by the installer
    staging/  downloads/  trash/     work areas; never read by boot selection

Every change is fsync + rename, so a power cut at any moment leaves a state in which
`select_boot` finds a complete version.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from k3os.image.errors import BundleError, StateError
from k3os.image.fsutil import (
    atomic_symlink,
    atomic_write,
    crash_point,
    exchange,
    exclusive,
    fsync_dir,
    remove_link,
    remove_tree,
)
from k3os.image.manifest import MANIFEST, SIGNATURE, Manifest, check_version
from k3os.image.selection import (
    BootDecision,
    BootRecord,
    BootView,
    Slot,
    protected_versions,
    select_boot,
    select_garbage,
)

if TYPE_CHECKING:
    from k3os.image.bundle import VerifiedBundle

# Bundles and keys (and so cryptography) are imported where a version is verified or staged:
# boot selection and an agent at rest only read manifests and pointers.

log = logging.getLogger(__name__)

STATE_SUBDIR: Final = "k3os/state"
POINTERS: Final = ("current", "previous")
CMDLINE: Final = Path("/proc/cmdline")


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def booted_slot(cmdline: Path = CMDLINE) -> Slot | None:
    """The bootloader entry this machine was booted from, if it is a booted k3os system."""
    try:
        words = cmdline.read_text().split()
    except OSError:
        return None
    for word in words:
        key, _, value = word.partition("=")
        if key == "k3os.slot" and value in ("current", "previous", "recovery"):
            return value  # type: ignore[return-value]
    return None


@dataclass(frozen=True)
class StateArea:
    path: Path

    @classmethod
    def for_root(cls, root: Path) -> StateArea:
        return cls(root / STATE_SUBDIR)

    @property
    def system(self) -> Path:
        return self.path / "system"

    @property
    def record_path(self) -> Path:
        return self.path / "boot.json"

    @property
    def trusted_dir(self) -> Path:
        return self.path / "trusted-keys"

    @property
    def staging(self) -> Path:
        return self.path / "staging"

    @property
    def downloads(self) -> Path:
        return self.path / "downloads"

    @property
    def trash(self) -> Path:
        return self.path / "trash"

    def init(self) -> None:
        """Create the directories (idempotent) and clear leftovers of interrupted work."""
        for d in (self.system, self.staging, self.downloads, self.trash, self.trusted_dir):
            d.mkdir(parents=True, exist_ok=True)
        for leftover in [*self.staging.iterdir(), *self.trash.iterdir()]:
            remove_tree(leftover)

    def locked(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Only one process changes the state area at a time."""
        return exclusive(self.path / ".lock", what)

    def require(self) -> None:
        if not self.system.is_dir():
            raise StateError(f"{self.path}: no k3os state area here (missing system/)")

    # pointers -------------------------------------------------------------------------
    def pointer(self, name: str) -> str | None:
        link = self.system / name
        if not link.is_symlink():
            return None
        target = os.readlink(link)
        try:
            return check_version(target)
        except BundleError:
            log.warning("ignoring pointer with a bad target", extra={"pointer": name})
            return None

    def set_pointer(self, name: str, version: str | None) -> None:
        if name not in POINTERS:
            raise ValueError(name)
        if version is None:
            remove_link(self.system / name)
        elif self.pointer(name) != version:
            atomic_symlink(self.system / name, version)

    # versions -------------------------------------------------------------------------
    def versions(self) -> list[str]:
        if not self.system.is_dir():
            return []
        return sorted(
            p.name
            for p in self.system.iterdir()
            if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
        )

    def installed_times(self) -> list[tuple[str, float]]:
        return [(v, (self.system / v).stat().st_mtime) for v in self.versions()]

    def is_complete(self, version: str) -> bool:
        """All parts present with the sizes the manifest promises (no hashing: boot is fast)."""
        directory = self.system / version
        try:
            manifest = Manifest.parse((directory / MANIFEST).read_bytes(), str(directory))
            if not (directory / SIGNATURE).is_file() or manifest.version != version:
                return False
            return all((directory / p.name).stat().st_size == p.size for p in manifest.parts)
        except (OSError, BundleError):
            return False

    def manifest(self, version: str) -> Manifest | None:
        try:
            return Manifest.parse((self.system / version / MANIFEST).read_bytes(), version)
        except (OSError, BundleError):
            return None

    def verify_version(self, version: str, *, full: bool = True) -> Manifest:
        """Signature and checksums of an installed version against the trusted keys."""
        from k3os.image.bundle import verify_installed
        from k3os.image.keys import load_trusted

        trusted = load_trusted([self.trusted_dir])
        return verify_installed(self.system / version, trusted, full=full)

    def stage(
        self,
        bundle: VerifiedBundle,
        *,
        replace: bool,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """Unpack a verified bundle to `system/<version>`; replace an existing one atomically."""
        from k3os.image.bundle import unpack

        version = bundle.manifest.version
        target = self.system / version
        if target.exists() and not replace:
            raise StateError(f"{target}: version {version} is already on disk")
        work = self.staging / version
        remove_tree(work)
        work.mkdir(parents=True)
        crash_point("stage-start")
        unpack(bundle, work, progress)
        crash_point("stage-unpacked")
        if target.exists():
            exchange(work, target)
            crash_point("stage-exchanged")
            remove_tree(work)
        else:
            os.rename(work, target)
            fsync_dir(self.system)
            fsync_dir(self.staging)
        crash_point("stage-done")

    # boot record ----------------------------------------------------------------------
    def read_record(self) -> BootRecord:
        try:
            data = self.record_path.read_bytes()
        except FileNotFoundError:
            return BootRecord()
        try:
            return BootRecord.from_dict(json.loads(data))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise StateError(f"{self.record_path}: not a valid boot record ({e})") from e

    def write_record(self, record: BootRecord) -> None:
        text = json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n"
        atomic_write(self.record_path, text.encode())

    # boot selection -------------------------------------------------------------------
    def view(self) -> BootView:
        complete = frozenset(v for v in self.versions() if self.is_complete(v))
        try:
            record = self.read_record()
        except StateError as e:
            # A torn record cannot happen (atomic writes), but never refuse to boot over it.
            log.warning("boot record unreadable; starting a fresh one", extra={"error": str(e)})
            record = BootRecord()
        return BootView(self.pointer("current"), self.pointer("previous"), record, complete)

    def apply(self, view: BootView, decision: BootDecision) -> None:
        """Write the decision. When pointers move, the old trial stays in the record until
        they have moved, so a crash half-way repeats the same decision on the next boot."""
        moving = (decision.current, decision.previous) != (view.current, view.previous)
        if moving:
            interim = BootRecord(
                trial=view.record.trial,
                booted=decision.record.booted,
                last_failure=decision.record.last_failure,
            )
            self.write_record(interim)
            crash_point("boot-interim-recorded")
            self.set_pointer("current", decision.current)
            self.set_pointer("previous", decision.previous)
            crash_point("boot-pointers-moved")
        if decision.record != view.record or moving:
            self.write_record(decision.record)

    def boot(self, slot: Slot = "current", *, dry_run: bool = False) -> BootDecision:
        view = self.view()
        decision = select_boot(view, slot, now_utc())
        if not dry_run:
            self.apply(view, decision)
        return decision

    # garbage collection ---------------------------------------------------------------
    def collect_garbage(self, keep: int) -> list[str]:
        """Remove old versions beyond `keep`; current, previous, booted and trial stay."""
        record = self.read_record()
        protected = protected_versions(self.pointer("current"), self.pointer("previous"), record)
        doomed = select_garbage(self.installed_times(), protected, keep)
        self.trash.mkdir(exist_ok=True)
        for version in doomed:
            # Rename out of system/ first: a half-deleted tree is never seen as a version.
            remove_tree(self.trash / version)
            os.rename(self.system / version, self.trash / version)
            fsync_dir(self.system)
            crash_point("gc-moved")
            remove_tree(self.trash / version)
            log.info("removed old version", extra={"version": version})
        return doomed
