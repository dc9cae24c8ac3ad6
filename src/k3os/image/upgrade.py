"""Upgrade, reinstall and rollback of the system version in a state area.

An upgrade fetches the bundle (resumably), verifies it before writing anything to
`system/`, stages it, records a trial, points `current` at it, collects old versions and
asks for a reboot. The next boot counts the attempt (`select_boot`); `health.confirm`
then keeps the version, or the boot after falls back to the version it replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from k3os.image.bundle import verify_bundle
from k3os.image.download import Progress, download
from k3os.image.errors import BundleError, ImageError, StateError
from k3os.image.fsutil import crash_point
from k3os.image.selection import Trial
from k3os.image.state import StateArea

log = logging.getLogger(__name__)

RebootHook = Callable[[], None]


def command_reboot(command: str) -> RebootHook:
    """A reboot hook that runs `command` (for example `reboot` or `systemctl reboot`)."""

    def reboot() -> None:
        try:
            subprocess.run(shlex.split(command), check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            raise ImageError(f"reboot command {command!r} failed: {e}") from e

    return reboot


@dataclass(frozen=True)
class UpgradeResult:
    version: str
    replaced: str | None
    reinstalled: bool
    collected: list[str]


def fetch(source: str, state: StateArea, progress: Progress | None = None) -> Path:
    """A local bundle path as is; an http(s) URL downloaded into `downloads/`."""
    if source.startswith(("http://", "https://")):
        name = hashlib.sha256(source.encode()).hexdigest()[:16] + ".bundle"
        return download(source, state.downloads / name, progress=progress)
    path = Path(source.removeprefix("file://"))
    if not path.is_file():
        raise ImageError(f"{path}: no such bundle file")
    return path


def upgrade(
    state: StateArea,
    source: str,
    *,
    extra_keys: Sequence[Path] = (),
    reinstall: bool = False,
    attempts: int = 1,
    keep: int = 2,
    progress: Progress | None = None,
    reboot: RebootHook | None = None,
) -> UpgradeResult:
    """Install the bundle at `source` as the next version to try."""
    if attempts < 1 or keep < 1:
        raise ImageError(f"attempts and keep must be at least 1, got {attempts} and {keep}")
    state.require()
    with state.locked("an upgrade or rollback"):
        return _upgrade(state, source, extra_keys, reinstall, attempts, keep, progress, reboot)


def _upgrade(
    state: StateArea,
    source: str,
    extra_keys: Sequence[Path],
    reinstall: bool,
    attempts: int,
    keep: int,
    progress: Progress | None,
    reboot: RebootHook | None,
) -> UpgradeResult:
    state.init()
    crash_point("start")
    from k3os.image.keys import load_trusted

    trusted = load_trusted([state.trusted_dir, *extra_keys])
    if not trusted:
        raise ImageError(f"{state.trusted_dir}: no trusted keys; pass --pubkey")
    path = fetch(source, state, progress)
    crash_point("downloaded")
    try:
        bundle = verify_bundle(path, trusted)
    except BundleError:
        if path.parent == state.downloads:
            path.unlink(missing_ok=True)  # a bad download is not resumed, it is fetched anew
        raise
    crash_point("verified")
    version = bundle.manifest.version
    record = state.read_record()
    current, previous = state.pointer("current"), state.pointer("previous")
    on_disk = version in state.versions()
    if on_disk and not reinstall:
        where = {current: "current", previous: "previous"}.get(version, "not booted")
        failed = record.last_failure
        note = ""
        if failed is not None and failed.version == version:
            note = f"; it failed its last trial ({failed.reason})"
        raise StateError(
            f"version {version} is already on disk ({where}){note}; pass --reinstall to "
            "write it again and boot it on trial, or use `k3os rollback`"
        )
    state.stage(bundle, replace=on_disk)
    # The version to fall back to is the last *known good* one.
    if record.trial is not None and record.trial.version == current:
        fallback = record.trial.fallback
    else:
        fallback = current if current != version else previous
    if fallback == version:
        fallback = None  # never fall back to the very version on trial
    state.write_record(
        dataclasses.replace(record, trial=Trial(version, fallback, attempts_left=attempts))
    )
    crash_point("trial-recorded")
    if fallback is not None:
        state.set_pointer("previous", fallback)
    crash_point("previous-switched")
    state.set_pointer("current", version)
    crash_point("current-switched")
    collected = state.collect_garbage(keep)
    crash_point("collected")
    if path.parent == state.downloads:
        path.unlink(missing_ok=True)
    log.info("version staged for a trial boot", extra={"version": version, "fallback": fallback})
    if reboot is not None:
        crash_point("reboot")
        reboot()
    return UpgradeResult(version, current, on_disk, collected)


def rollback(state: StateArea, *, reboot: RebootHook | None = None) -> tuple[str, str]:
    """Swap `current` and `previous`; the trial (if any) ends. Returns (from, to)."""
    state.require()
    with state.locked("an upgrade or rollback"):
        return _rollback(state, reboot)


def _rollback(state: StateArea, reboot: RebootHook | None) -> tuple[str, str]:
    current, previous = state.pointer("current"), state.pointer("previous")
    if previous is None or not state.is_complete(previous):
        raise StateError(
            f"{state.system}: no complete previous version to roll back to "
            f"(previous: {previous or 'none'})"
        )
    # current first: once it moves, a pending trial no longer matches and is void.
    state.set_pointer("current", previous)
    crash_point("rollback-current")
    state.set_pointer("previous", current)
    record = state.read_record()
    if record.trial is not None:
        state.write_record(dataclasses.replace(record, trial=None))
    log.info("rolled back", extra={"from": current, "to": previous})
    if reboot is not None:
        reboot()
    return current or "none", previous
