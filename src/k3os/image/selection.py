"""Pure decisions over the state area: which version to boot, and which versions to collect.

`select_boot` is what the initramfs runs (through `k3os boot-select`): given the pointers,
the boot record and which versions are complete on disk, it returns the version to boot
and the pointers and record as they must be afterwards. No I/O here; `state.py` reads the
view and applies the decision, in a crash-safe order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Slot = Literal["current", "previous", "recovery"]
SLOTS: tuple[Slot, ...] = ("current", "previous", "recovery")
Mode = Literal["normal", "recovery"]


@dataclass(frozen=True)
class Trial:
    """A version booted on trial: kept only once a health check confirms it."""

    version: str
    fallback: str | None
    attempts_left: int
    failure: str | None = None


@dataclass(frozen=True)
class Failure:
    version: str
    reason: str
    at: str


@dataclass(frozen=True)
class BootRecord:
    trial: Trial | None = None
    booted: str | None = None
    last_failure: Failure | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> BootRecord:
        """Build from JSON; raises ValueError/TypeError/KeyError on a wrong shape."""
        trial, failure = doc.get("trial"), doc.get("last_failure")
        booted = doc.get("booted")
        if booted is not None and not isinstance(booted, str):
            raise TypeError("booted must be a string or null")
        return cls(
            trial=None if trial is None else _trial(trial),
            booted=booted,
            last_failure=None if failure is None else _failure(failure),
        )


def _trial(doc: Mapping[str, Any]) -> Trial:
    version, fallback = doc["version"], doc.get("fallback")
    attempts, failure = doc["attempts_left"], doc.get("failure")
    if not isinstance(version, str) or not isinstance(attempts, int):
        raise TypeError("trial.version must be a string and trial.attempts_left an integer")
    if fallback is not None and not isinstance(fallback, str):
        raise TypeError("trial.fallback must be a string or null")
    if failure is not None and not isinstance(failure, str):
        raise TypeError("trial.failure must be a string or null")
    return Trial(version=version, fallback=fallback, attempts_left=attempts, failure=failure)


def _failure(doc: Mapping[str, Any]) -> Failure:
    values = doc["version"], doc["reason"], doc["at"]
    if not all(isinstance(v, str) for v in values):
        raise TypeError("last_failure fields must be strings")
    return Failure(*values)


@dataclass(frozen=True)
class BootView:
    """What boot selection needs to know about the state area."""

    current: str | None
    previous: str | None
    record: BootRecord
    complete: frozenset[str]


@dataclass(frozen=True)
class BootDecision:
    version: str | None  # None: nothing bootable, drop to the recovery shell
    mode: Mode
    current: str | None
    previous: str | None
    record: BootRecord
    reboot: bool  # the bootloader loaded another version's kernel: switch, then reboot
    reason: str


def select_boot(view: BootView, slot: Slot = "current", now: str = "") -> BootDecision:
    """Decide what to boot for the bootloader entry `slot`; `now` stamps a recorded failure."""
    cur, prev, record = view.current, view.previous, view.record

    def ok(version: str | None) -> bool:
        return version is not None and version in view.complete

    def keep(version: str | None, reason: str, mode: Mode = "normal") -> BootDecision:
        booted = record.booted if mode == "recovery" else version
        return BootDecision(
            version, mode, cur, prev, dataclasses.replace(record, booted=booted), False, reason
        )

    if slot == "recovery":
        for version in (cur, prev):
            if ok(version):
                return keep(version, f"recovery shell on {version}", "recovery")
        return keep(None, "no complete version on disk", "recovery")

    if slot == "previous":
        if ok(prev):
            return keep(prev, f"previous entry chosen: {prev}")
        if not ok(cur):
            return keep(None, "neither previous nor current is complete", "recovery")
        return keep(cur, f"previous entry chosen but {prev or 'no version'} is not bootable")

    trial = record.trial
    if trial is not None and trial.version != cur:
        # The upgrade stopped before switching, or an operator rolled back: not a trial.
        record = dataclasses.replace(record, trial=None)
        trial = None

    if trial is not None:
        if trial.failure is None and trial.attempts_left > 0 and ok(cur):
            left = trial.attempts_left - 1
            record = dataclasses.replace(
                record, trial=dataclasses.replace(trial, attempts_left=left), booted=cur
            )
            return BootDecision(
                cur, "normal", cur, prev, record, False, f"trial boot of {cur} ({left} left)"
            )
        if trial.failure:
            why = trial.failure
        elif not ok(cur):
            why = f"{cur} is incomplete on disk"
        else:
            why = f"{cur} was not confirmed healthy after its trial boot"
        fallback = next((v for v in (trial.fallback, prev) if ok(v) and v != cur), None)
        failure: Failure | None = Failure(version=trial.version, reason=why, at=now)
        if fallback is None:
            record = dataclasses.replace(record, trial=None, last_failure=failure)
            if ok(cur):
                record = dataclasses.replace(record, booted=cur)
                return BootDecision(
                    cur, "normal", cur, prev, record, False, f"{why}; no fallback, booting it"
                )
            return BootDecision(None, "recovery", cur, prev, record, False, f"{why}; no fallback")
        record = BootRecord(trial=None, booted=fallback, last_failure=failure)
        return BootDecision(
            fallback, "normal", fallback, None, record, True, f"{why}; falling back to {fallback}"
        )

    if ok(cur):
        record = dataclasses.replace(record, booted=cur)
        return BootDecision(cur, "normal", cur, prev, record, False, f"booting {cur}")
    if ok(prev):
        failure = record.last_failure
        if cur is not None:
            failure = Failure(version=cur, reason=f"{cur} is incomplete on disk", at=now)
        record = BootRecord(trial=None, booted=prev, last_failure=failure)
        return BootDecision(
            prev, "normal", prev, None, record, True, f"current is not bootable, using {prev}"
        )
    return keep(None, "no complete version on disk", "recovery")


def protected_versions(current: str | None, previous: str | None, record: BootRecord) -> set[str]:
    """Versions garbage collection must never remove."""
    names = {current, previous, record.booted}
    if record.trial is not None:
        names |= {record.trial.version, record.trial.fallback}
    return {n for n in names if n is not None}


def select_garbage(
    installed: Iterable[tuple[str, float]], protected: set[str], keep: int
) -> list[str]:
    """Versions to delete so at most `keep` remain (protected ones always stay), oldest first.

    `installed` pairs each version with its install time.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    newest_first = sorted(installed, key=lambda item: (item[1], item[0]), reverse=True)
    kept = {name for name, _ in newest_first if name in protected}
    for name, _ in newest_first:
        if len(kept) >= keep:
            break
        kept.add(name)
    return [name for name, _ in reversed(newest_first) if name not in kept]
