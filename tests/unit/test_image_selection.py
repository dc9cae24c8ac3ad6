"""Boot selection and garbage collection: named table cases, then every combination."""

from __future__ import annotations

import itertools

import pytest

from k3os.image.selection import (
    SLOTS,
    BootRecord,
    BootView,
    Failure,
    Trial,
    protected_versions,
    select_boot,
    select_garbage,
)

NOW = "2026-01-01T00:00:00Z"
OLD_FAIL = Failure("v0", "old", "2025-01-01T00:00:00Z")


def view(
    current: str | None = "v2",
    previous: str | None = "v1",
    trial: Trial | None = None,
    complete: tuple[str, ...] = ("v1", "v2"),
    booted: str | None = None,
    failure: Failure | None = None,
) -> BootView:
    return BootView(current, previous, BootRecord(trial, booted, failure), frozenset(complete))


# (id, view, slot) -> (version, mode, current, previous, trial, last_failure version, reboot)
CASES = [
    ("plain boot", view(), "current", ("v2", "normal", "v2", "v1", None, None, False)),
    (
        "first trial boot counts the attempt",
        view(trial=Trial("v2", "v1", 1)),
        "current",
        ("v2", "normal", "v2", "v1", Trial("v2", "v1", 0), None, False),
    ),
    (
        "two attempts: second boot still on trial",
        view(trial=Trial("v2", "v1", 2)),
        "current",
        ("v2", "normal", "v2", "v1", Trial("v2", "v1", 1), None, False),
    ),
    (
        "unconfirmed trial falls back",
        view(trial=Trial("v2", "v1", 0)),
        "current",
        ("v1", "normal", "v1", None, None, "v2", True),
    ),
    (
        "failed health check falls back even with attempts left",
        view(trial=Trial("v2", "v1", 1, failure="k3s down")),
        "current",
        ("v1", "normal", "v1", None, None, "v2", True),
    ),
    (
        "incomplete trial version falls back",
        view(trial=Trial("v2", "v1", 1), complete=("v1",)),
        "current",
        ("v1", "normal", "v1", None, None, "v2", True),
    ),
    (
        "trial fallback missing: use previous",
        view(trial=Trial("v2", "gone", 0)),
        "current",
        ("v1", "normal", "v1", None, None, "v2", True),
    ),
    (
        "failed trial with no fallback keeps booting it",
        view(previous=None, trial=Trial("v2", None, 0)),
        "current",
        ("v2", "normal", "v2", None, None, "v2", False),
    ),
    (
        "failed incomplete trial with no fallback: recovery",
        view(previous=None, trial=Trial("v2", None, 0), complete=()),
        "current",
        (None, "recovery", "v2", None, None, "v2", False),
    ),
    (
        "stale trial (upgrade stopped before switching) is dropped",
        view(current="v1", previous="v0", trial=Trial("v2", "v1", 1), complete=("v0", "v1", "v2")),
        "current",
        ("v1", "normal", "v1", "v0", None, None, False),
    ),
    (
        "incomplete current without trial: previous",
        view(complete=("v1",)),
        "current",
        ("v1", "normal", "v1", None, None, "v2", True),
    ),
    (
        "no current pointer: previous",
        view(current=None),
        "current",
        ("v1", "normal", "v1", None, None, None, True),
    ),
    (
        "nothing bootable",
        view(complete=()),
        "current",
        (None, "recovery", "v2", "v1", None, None, False),
    ),
    ("previous entry", view(), "previous", ("v1", "normal", "v2", "v1", None, None, False)),
    (
        "previous entry keeps a pending trial",
        view(trial=Trial("v2", "v1", 0)),
        "previous",
        ("v1", "normal", "v2", "v1", Trial("v2", "v1", 0), None, False),
    ),
    (
        "previous entry, previous incomplete: current",
        view(complete=("v2",)),
        "previous",
        ("v2", "normal", "v2", "v1", None, None, False),
    ),
    (
        "previous entry, nothing complete",
        view(complete=()),
        "previous",
        (None, "recovery", "v2", "v1", None, None, False),
    ),
    ("recovery on current", view(), "recovery", ("v2", "recovery", "v2", "v1", None, None, False)),
    (
        "recovery falls to previous",
        view(complete=("v1",)),
        "recovery",
        ("v1", "recovery", "v2", "v1", None, None, False),
    ),
    (
        "recovery, nothing",
        view(complete=()),
        "recovery",
        (None, "recovery", "v2", "v1", None, None, False),
    ),
]


@pytest.mark.parametrize(("name", "given", "slot", "expected"), CASES, ids=[c[0] for c in CASES])
def test_select_boot_table(
    name: str, given: BootView, slot: str, expected: tuple[object, ...]
) -> None:
    d = select_boot(given, slot, NOW)  # type: ignore[arg-type]
    failed = d.record.last_failure.version if d.record.last_failure else None
    assert (d.version, d.mode, d.current, d.previous, d.record.trial, failed, d.reboot) == expected
    assert d.reason


def test_fallback_records_reason_and_time() -> None:
    d = select_boot(view(trial=Trial("v2", "v1", 1, failure="k3s down")), "current", NOW)
    assert d.record.last_failure == Failure("v2", "k3s down", NOW)
    assert d.record.booted == "v1"
    d = select_boot(view(trial=Trial("v2", "v1", 0)), "current", NOW)
    assert d.record.last_failure is not None
    assert "not confirmed healthy" in d.record.last_failure.reason


def test_old_failure_kept_when_nothing_fails() -> None:
    d = select_boot(view(failure=OLD_FAIL), "current", NOW)
    assert d.record.last_failure == OLD_FAIL
    d = select_boot(view(current=None, failure=OLD_FAIL), "current", NOW)
    assert d.record.last_failure == OLD_FAIL


# --- every combination -------------------------------------------------------------------
POINTERS = [None, "v1", "v2", "v3"]
TRIALS = [
    None,
    Trial("v2", "v1", 1),
    Trial("v2", "v1", 0),
    Trial("v2", "v1", 1, failure="bad"),
    Trial("v3", "v2", 1),
    Trial("v2", None, 0),
]
COMPLETES = [frozenset(s) for n in range(4) for s in itertools.combinations(["v1", "v2", "v3"], n)]


def all_views() -> list[tuple[BootView, str]]:
    out = []
    for cur, prev, trial, complete, slot in itertools.product(
        POINTERS, POINTERS, TRIALS, COMPLETES, SLOTS
    ):
        out.append((BootView(cur, prev, BootRecord(trial=trial), complete), slot))
    return out


def test_every_combination_keeps_the_invariants() -> None:
    combos = all_views()
    assert len(combos) == 4 * 4 * 6 * 8 * 3
    for given, slot in combos:
        d = select_boot(given, slot, NOW)  # type: ignore[arg-type]
        where = (given, slot, d)
        # Only complete versions are ever booted; nothing bootable means recovery.
        assert d.version is None or d.version in given.complete, where
        if d.version is None:
            assert d.mode == "recovery", where
        # Pointers only ever move to complete versions (or away).
        assert d.current in (given.current, d.version), where
        assert d.previous in (given.previous, None), where
        # A version whose trial failed is never booted again while a fallback exists.
        t = given.record.trial
        if (
            slot == "current"
            and t
            and t.version == given.current
            and (t.failure or not t.attempts_left)
        ):
            fallback_exists = any(
                v in given.complete and v != t.version for v in (t.fallback, given.previous)
            )
            if fallback_exists:
                assert d.version != t.version and d.reboot, where
            assert d.record.last_failure and d.record.last_failure.version == t.version, where
        # The previous and recovery entries leave the record's trial alone; booting the
        # current entry keeps a trial only while it is on current.
        if slot != "current":
            assert d.record.trial == given.record.trial, where
        elif d.record.trial is not None:
            assert d.record.trial.version == d.current, where
        # Asking to reboot means the kernel loaded (from the slot's pointer) is not the one chosen.
        if d.reboot:
            assert d.version != given.current, where
        # Deciding again on the result is stable: no second reboot, same version.
        after = BootView(d.current, d.previous, d.record, given.complete)
        again = select_boot(after, slot, NOW)  # type: ignore[arg-type]
        if slot != "current" or d.record.trial is None:
            assert again.version == d.version and not again.reboot, where


# --- garbage collection ------------------------------------------------------------------
GC_CASES = [
    ("nothing to do", [("v1", 1), ("v2", 2)], {"v2", "v1"}, 2, []),
    ("oldest goes", [("v1", 1), ("v2", 2), ("v3", 3)], {"v3", "v2"}, 2, ["v1"]),
    (
        "protected stay even beyond keep",
        [("v1", 1), ("v2", 2), ("v3", 3)],
        {"v1", "v2", "v3"},
        2,
        [],
    ),
    (
        "booted old one stays",
        [("v1", 1), ("v2", 2), ("v3", 3), ("v4", 4)],
        {"v1", "v4"},
        2,
        ["v2", "v3"],
    ),
    ("keep one", [("v1", 1), ("v2", 2), ("v3", 3)], {"v3"}, 1, ["v1", "v2"]),
    ("keep more than exist", [("v1", 1)], set(), 5, []),
    ("unprotected newest fills the quota", [("v1", 1), ("v2", 2), ("v3", 3)], {"v1"}, 2, ["v2"]),
]


@pytest.mark.parametrize(
    ("name", "installed", "protected", "keep", "expected"), GC_CASES, ids=[c[0] for c in GC_CASES]
)
def test_select_garbage_table(
    name: str,
    installed: list[tuple[str, float]],
    protected: set[str],
    keep: int,
    expected: list[str],
) -> None:
    assert select_garbage(installed, protected, keep) == expected


def test_select_garbage_rejects_zero_keep() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        select_garbage([], set(), 0)


def test_protected_versions() -> None:
    record = BootRecord(trial=Trial("v3", "v2", 1), booted="v1")
    assert protected_versions("v3", None, record) == {"v1", "v2", "v3"}
    assert protected_versions(None, None, BootRecord()) == set()


def test_record_round_trip_and_bad_shapes() -> None:
    record = BootRecord(Trial("v2", "v1", 1, "x"), "v1", OLD_FAIL)
    assert BootRecord.from_dict(record.to_dict()) == record
    assert BootRecord.from_dict({}) == BootRecord()
    for bad in (
        {"booted": 3},
        {"trial": {"version": 1, "attempts_left": 1}},
        {"trial": {"version": "v", "attempts_left": 1, "fallback": 2}},
        {"trial": {"version": "v", "attempts_left": 1, "failure": 2}},
        {"trial": {"version": "v"}},
        {"last_failure": {"version": "v", "reason": 1, "at": ""}},
    ):
        with pytest.raises((TypeError, KeyError)):
            BootRecord.from_dict(bad)


def test_public_surface() -> None:
    import k3os.image

    assert k3os.image.__all__ == [
        "BootDecision",
        "BootRecord",
        "BootView",
        "BundleError",
        "BusyError",
        "ChecksumError",
        "ConfigFileError",
        "DownloadError",
        "HealthSpec",
        "ImageError",
        "InstallError",
        "KeyFileError",
        "SignatureError",
        "StateArea",
        "StateError",
        "UntrustedKeyError",
        "VerifiedBundle",
        "build_bundle",
        "build_from_rootfs",
        "confirm",
        "rollback",
        "select_boot",
        "upgrade",
        "verify_bundle",
    ]
    for name in k3os.image.__all__:
        assert getattr(k3os.image, name) is not None
