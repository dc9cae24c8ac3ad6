"""The health check that keeps a version on trial, or marks it failed so the next boot
falls back.

Checks are configurable: services that must be running (each asked with a status command
template), a custom command that must exit 0, and extra in-process checks (the agent adds
"node is Ready" this way, so this room needs no Kubernetes code). All must pass within the
timeout; they are retried every `interval` seconds until then.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from k3os.image.errors import StateError
from k3os.image.state import StateArea

log = logging.getLogger(__name__)

Check = Callable[[], str | None]  # None when healthy, else why not
Outcome = Literal["committed", "failed", "no-trial"]


@dataclass(frozen=True)
class HealthSpec:
    services: Sequence[str] = ()
    service_command: str = "rc-service {name} status"
    command: str | None = None
    timeout: float = 300.0
    interval: float = 5.0
    extra: Sequence[Check] = field(default_factory=tuple)


def _run(argv: list[str], timeout: float) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=max(timeout, 0.1))
    except subprocess.TimeoutExpired:
        return f"`{shlex.join(argv)}` did not finish in time"
    except OSError as e:
        return f"`{shlex.join(argv)}` could not run: {e.strerror}"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return f"`{shlex.join(argv)}` exited {done.returncode} {tail[0]}".rstrip()
    return None


def first_failure(spec: HealthSpec, remaining: float) -> str | None:
    for name in spec.services:
        argv = shlex.split(spec.service_command.format(name=name))
        reason = _run(argv, remaining)
        if reason:
            return f"service {name} is not running: {reason}"
    if spec.command:
        reason = _run(["sh", "-c", spec.command], remaining)
        if reason:
            return f"health command failed: {reason}"
    for check in spec.extra:
        reason = check()
        if reason:
            return reason
    return None


def run_checks(
    spec: HealthSpec,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Retry the checks until all pass (None) or the timeout runs out (the last reason)."""
    deadline = clock() + spec.timeout
    while True:
        reason = first_failure(spec, deadline - clock())
        if reason is None:
            return None
        if clock() + spec.interval > deadline:
            return f"not healthy within {spec.timeout:g}s: {reason}"
        sleep(spec.interval)


def confirm(
    state: StateArea,
    spec: HealthSpec,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Outcome, str]:
    """Commit the version on trial if it is healthy; otherwise record why it is not."""
    state.require()
    with state.locked("a health check"):
        return _confirm(state, spec, clock, sleep)


def _confirm(
    state: StateArea,
    spec: HealthSpec,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> tuple[Outcome, str]:
    record = state.read_record()
    trial = record.trial
    if trial is None:
        return "no-trial", f"nothing on trial; {record.booted or 'no version'} is committed"
    if trial.failure is not None:
        return (
            "failed",
            f"{trial.version} already failed ({trial.failure}); the next boot falls back",
        )
    if record.booted != trial.version:
        raise StateError(
            f"{trial.version} is on trial but has not been booted yet "
            f"(booted: {record.booted or 'none'}); reboot first"
        )
    reason = run_checks(spec, clock=clock, sleep=sleep)
    if reason is None:
        state.write_record(dataclasses.replace(record, trial=None))
        log.info("trial version committed", extra={"version": trial.version})
        return "committed", f"{trial.version} is healthy and committed"
    failed = dataclasses.replace(trial, failure=reason, attempts_left=0)
    state.write_record(dataclasses.replace(record, trial=failed))
    log.warning("trial version failed its health check", extra={"version": trial.version})
    return "failed", f"{trial.version} failed: {reason}; the next boot falls back"
