"""The node side of an OS upgrade, without Kubernetes: boot selection at agent start, the
upgrade job kept across the reboot, the health check of a version on trial, and what the
state area says about how the job ended.

In the simulator a "reboot" is the agent process starting again on its root: it runs boot
selection (as the initramfs would) before anything else, so a failed trial falls back to
the previous version exactly as on a real box.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from k3os.agent.settings import read_json, write_json
from k3os.image import HealthSpec, StateArea, confirm

log = logging.getLogger(__name__)

HEALTH_SCRIPT = "usr/lib/k3os/health-check"
"""A script inside an image's root file system that must exit 0 for the image to be kept
(run by the agent in the simulator; on a real box the image's own services say so)."""


@dataclass(frozen=True)
class UpgradeJob:
    """An upgrade this node started and has not reported yet (kept in upgrade.json)."""

    plan: str
    namespace: str
    hash: str
    image: str
    version: str = ""
    previous: str = ""
    stage: Literal["fetching", "staged"] = "fetching"

    @classmethod
    def load(cls, path: Path) -> UpgradeJob | None:
        doc = read_json(path)
        if doc is None:
            return None
        try:
            return cls(**doc)
        except TypeError:
            log.warning("%s: not an upgrade job; ignoring it", path)
            return None

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))


def state_of(root: Path | None) -> StateArea | None:
    """The root's state area when it has one (a node with an installed system)."""
    if root is None:
        return None
    state = StateArea.for_root(root)
    return state if (state.path / "system").is_dir() else None


def select_boot_version(state: StateArea) -> str | None:
    """Run boot selection as the initramfs would; a decision to reboot first (after a failed
    trial) is followed by another selection, as the next boot would make."""
    version = None
    for _ in range(4):
        decision = state.boot("current")
        version = decision.version
        log.info("boot selection: %s (%s)", version or "nothing", decision.reason)
        if not decision.reboot:
            break
    return version


def image_health(state: StateArea, version: str, timeout: float = 30.0) -> str | None:
    """Run the image's own health script (HEALTH_SCRIPT in its rootfs) if it has one."""
    squash = state.system / version / "rootfs.squashfs"
    try:
        found = subprocess.run(
            ["unsquashfs", "-cat", str(squash), HEALTH_SCRIPT],
            capture_output=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if found.returncode != 0 or not found.stdout.strip():
        return None  # no script in this image (or no squashfs to read): nothing to check
    try:
        done = subprocess.run(
            ["sh", "-c", found.stdout.decode()], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return f"{HEALTH_SCRIPT} of {version} did not finish in {timeout:.0f}s"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return f"{HEALTH_SCRIPT} of {version} exited {done.returncode}: {tail[0]}".rstrip(": ")
    return None


def confirm_trial(
    state: StateArea,
    *,
    command: str | None,
    timeout: float,
    interval: float,
    extra: Sequence[Callable[[], str | None]] = (),
) -> tuple[str, str]:
    """Health-check the version on trial: ("committed" | "failed" | "no-trial", message)."""
    record = state.read_record()
    checks: list[Callable[[], str | None]] = list(extra)
    if record.trial is not None:
        version = record.trial.version
        checks.append(lambda: image_health(state, version))
    spec = HealthSpec(command=command, timeout=timeout, interval=interval, extra=tuple(checks))
    return confirm(state, spec)


Outcome = tuple[Literal["Complete", "Failed", "Pending"], str, str]


def job_outcome(job: UpgradeJob, state: StateArea) -> Outcome:
    """How `job` ended by the state area: (phase, reason, message).

    Pending: the version is on trial and has not been checked yet.
    """
    record = state.read_record()
    trial = record.trial
    if trial is not None and trial.version == job.version and record.booted == job.version:
        if trial.failure is None:
            return "Pending", "", f"{job.version} is on trial"
        return "Failed", "HealthCheckFailed", f"{job.version}: {trial.failure}"
    failure = record.last_failure
    if failure is not None and failure.version == job.version:
        back = record.booted or "nothing"
        return (
            "Failed",
            "HealthCheckFailed",
            f"{job.version} rolled back to {back}: {failure.reason}",
        )
    if record.booted == job.version and trial is None:
        return "Complete", "Upgraded", f"booted {job.version}"
    return (
        "Failed",
        "NotBooted",
        f"{job.version} was staged but {record.booted or 'nothing'} booted",
    )
