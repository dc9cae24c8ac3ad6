"""The state area in-process: staging, pointers, records, upgrade, rollback, health, GC."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from k3os.image.bundle import verify_bundle
from k3os.image.errors import BusyError, ImageError, StateError
from k3os.image.fsutil import atomic_symlink, exchange
from k3os.image.health import HealthSpec, confirm, run_checks
from k3os.image.keys import load_trusted
from k3os.image.selection import BootRecord, Trial
from k3os.image.state import StateArea, booted_slot
from k3os.image.status import gather, render_text
from k3os.image.upgrade import fetch, rollback, upgrade
from tests.tooling.image_fixtures import KeyPair, bundle, keypair, new_state

HEALTHY = HealthSpec(extra=[lambda: None], timeout=0)


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return keypair(tmp_path / "keys")


@pytest.fixture
def state(tmp_path: Path, keys: KeyPair) -> StateArea:
    return new_state(tmp_path / "root", bundle(tmp_path, keys, "v1", seed=1), keys)


def boot(state: StateArea) -> str | None:
    return state.boot("current").version


def test_fresh_state_layout(state: StateArea) -> None:
    assert state.pointer("current") == "v1"
    assert state.pointer("previous") is None
    assert os.readlink(state.system / "current") == "v1"
    assert state.versions() == ["v1"]
    assert state.is_complete("v1")
    assert (state.path / "config.yaml").stat().st_mode & 0o777 == 0o600
    assert "k3os.slot=previous" in (state.path / "boot/grub/grub.cfg").read_text()
    assert state.verify_version("v1").version == "v1"
    assert boot(state) == "v1"
    assert state.read_record().booted == "v1"


def test_upgrade_trial_commit(tmp_path: Path, keys: KeyPair, state: StateArea) -> None:
    boot(state)
    rebooted: list[bool] = []
    result = upgrade(
        state, str(bundle(tmp_path, keys, "v2", seed=2)), reboot=lambda: rebooted.append(True)
    )
    assert (result.version, result.replaced, result.reinstalled) == ("v2", "v1", False)
    assert rebooted == [True]
    assert (state.pointer("current"), state.pointer("previous")) == ("v2", "v1")
    assert state.read_record().trial == Trial("v2", "v1", 1)
    assert boot(state) == "v2"
    outcome, message = confirm(state, HEALTHY)
    assert outcome == "committed", message
    assert state.read_record().trial is None
    assert confirm(state, HealthSpec())[0] == "no-trial"
    assert boot(state) == "v2"


def test_failed_health_check_falls_back_and_is_not_retried(
    tmp_path: Path, keys: KeyPair, state: StateArea
) -> None:
    boot(state)
    v2 = bundle(tmp_path, keys, "v2", seed=2)
    upgrade(state, str(v2))
    with pytest.raises(StateError, match="not been booted yet"):
        confirm(state, HEALTHY)
    assert boot(state) == "v2"
    outcome, message = confirm(state, HealthSpec(extra=[lambda: "k3s is down"], timeout=0))
    assert outcome == "failed"
    assert "k3s is down" in message
    # A failed trial is not committed by a later, passing check: it falls back.
    assert confirm(state, HEALTHY)[0] == "failed"
    decision = state.boot("current")
    assert (decision.version, decision.reboot) == ("v1", True)
    record = state.read_record()
    assert record.last_failure is not None and record.last_failure.version == "v2"
    assert "k3s is down" in record.last_failure.reason
    assert (state.pointer("current"), state.pointer("previous")) == ("v1", None)
    assert boot(state) == "v1"
    with pytest.raises(StateError, match="failed its last trial"):
        upgrade(state, str(v2))
    info = gather(state)
    assert info["last_failure"]["version"] == "v2"
    assert "last failure: v2" in render_text(info)


def test_unconfirmed_trial_falls_back(tmp_path: Path, keys: KeyPair, state: StateArea) -> None:
    boot(state)
    upgrade(state, str(bundle(tmp_path, keys, "v2", seed=2)), attempts=2)
    assert [boot(state), boot(state), boot(state), boot(state)] == ["v2", "v2", "v1", "v1"]
    failure = state.read_record().last_failure
    assert failure is not None and "not confirmed healthy" in failure.reason


def test_reinstall_is_explicit_and_works(tmp_path: Path, keys: KeyPair, state: StateArea) -> None:
    boot(state)
    v1_again = bundle(tmp_path / "again", keys, "v1", seed=11)
    with pytest.raises(StateError, match=r"already on disk \(current\); pass --reinstall"):
        upgrade(state, str(v1_again))
    result = upgrade(state, str(v1_again), reinstall=True)
    assert result.reinstalled
    assert state.verify_version("v1").part("vmlinuz").sha256 == (
        verify_bundle(v1_again, load_trusted([keys.pub])).manifest.part("vmlinuz").sha256
    )
    assert state.read_record().trial == Trial("v1", None, 1)
    assert boot(state) == "v1"


def test_upgrade_during_a_pending_trial_keeps_the_good_fallback(
    tmp_path: Path, keys: KeyPair, state: StateArea
) -> None:
    boot(state)
    upgrade(state, str(bundle(tmp_path, keys, "v2", seed=2)))
    upgrade(state, str(bundle(tmp_path, keys, "v3", seed=3)), keep=3)
    assert state.read_record().trial == Trial("v3", "v1", 1)
    assert state.pointer("previous") == "v1"


def test_garbage_collection(tmp_path: Path, keys: KeyPair, state: StateArea) -> None:
    boot(state)
    upgrade(state, str(bundle(tmp_path, keys, "v2", seed=2)))
    boot(state)
    confirm(state, HEALTHY)
    result = upgrade(state, str(bundle(tmp_path, keys, "v3", seed=3)))
    assert result.collected == ["v1"]
    assert state.versions() == ["v2", "v3"]
    # v3 never booted; a second upgrade replaces it and keeps v2, the booted one.
    result = upgrade(state, str(bundle(tmp_path, keys, "v4", seed=4)))
    assert result.collected == ["v3"]
    assert state.versions() == ["v2", "v4"]
    assert not list(state.trash.iterdir())


def test_garbage_collection_never_removes_protected(
    tmp_path: Path, keys: KeyPair, state: StateArea
) -> None:
    boot(state)  # v1 is the booted version from here on
    upgrade(state, str(bundle(tmp_path, keys, "v2", seed=2)), keep=5)
    upgrade(state, str(bundle(tmp_path, keys, "v3", seed=3)), keep=5)
    state.write_record(BootRecord(booted="v1"))
    state.set_pointer("previous", "v2")
    assert state.collect_garbage(keep=1) == []
    assert state.versions() == ["v1", "v2", "v3"]


def test_untrusted_bundle_changes_nothing(tmp_path: Path, state: StateArea) -> None:
    other = keypair(tmp_path / "other")

    def listing() -> list[str]:
        return sorted(
            str(p.relative_to(state.path)) for p in state.path.rglob("*") if p.name != ".lock"
        )

    before = listing()
    record = state.record_path.read_bytes()
    from k3os.image.errors import UntrustedKeyError

    with pytest.raises(UntrustedKeyError):
        upgrade(state, str(bundle(tmp_path, other, "v2")))
    assert listing() == before
    assert state.record_path.read_bytes() == record


def test_upgrade_argument_errors(tmp_path: Path, keys: KeyPair, state: StateArea) -> None:
    with pytest.raises(ImageError, match="at least 1"):
        upgrade(state, "x", attempts=0)
    with pytest.raises(ImageError, match="at least 1"):
        upgrade(state, "x", keep=0)
    with pytest.raises(ImageError, match="no such bundle"):
        upgrade(state, str(tmp_path / "nope"))
    empty = StateArea(tmp_path / "empty")
    with pytest.raises(StateError, match="no k3os state area"):
        upgrade(empty, "x")
    for key in state.trusted_dir.iterdir():
        key.unlink()
    with pytest.raises(ImageError, match="no trusted keys"):
        upgrade(state, "x")
    assert fetch(f"file://{keys.pub}", state) == keys.pub


def test_extra_pubkey_is_trusted(tmp_path: Path, state: StateArea) -> None:
    other = keypair(tmp_path / "other")
    upgrade(state, str(bundle(tmp_path, other, "v2")), extra_keys=[other.pub])
    assert state.pointer("current") == "v2"


def test_rollback(tmp_path: Path, keys: KeyPair, state: StateArea) -> None:
    with pytest.raises(StateError, match="no complete previous"):
        rollback(state)
    boot(state)
    upgrade(state, str(bundle(tmp_path, keys, "v2", seed=2)))
    calls: list[int] = []
    assert rollback(state, reboot=lambda: calls.append(1)) == ("v2", "v1")
    assert calls == [1]
    assert (state.pointer("current"), state.pointer("previous")) == ("v1", "v2")
    assert state.read_record().trial is None
    assert boot(state) == "v1"
    assert rollback(state) == ("v1", "v2")
    assert boot(state) == "v2"


def test_record_errors_and_recovery(state: StateArea) -> None:
    state.record_path.write_text("{not json")
    with pytest.raises(StateError, match="not a valid boot record"):
        state.read_record()
    assert state.view().record == BootRecord()
    state.record_path.unlink()
    assert state.read_record() == BootRecord()


def test_bad_pointer_target_is_ignored(state: StateArea) -> None:
    atomic_symlink(state.system / "previous", "../../etc")
    assert state.pointer("previous") is None
    with pytest.raises(ValueError, match="other"):
        state.set_pointer("other", "v1")
    state.set_pointer("previous", None)
    assert not (state.system / "previous").is_symlink()


def test_incomplete_versions(state: StateArea) -> None:
    (state.system / "junk").mkdir()
    assert not state.is_complete("junk")
    assert state.manifest("junk") is None
    (state.system / "v1" / "initrd").write_bytes(b"x")
    assert not state.is_complete("v1")
    decision = state.boot("current", dry_run=True)
    assert decision.version is None
    assert state.pointer("current") == "v1"


def test_stage_refuses_existing_without_replace(
    keys: KeyPair, state: StateArea, tmp_path: Path
) -> None:
    verified = verify_bundle(bundle(tmp_path / "x", keys, "v1", seed=5), load_trusted([keys.pub]))
    with pytest.raises(StateError, match="already on disk"):
        state.stage(verified, replace=False)


def test_exchange_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot exchange"):
        exchange(tmp_path / "a", tmp_path / "b")


def test_booted_slot(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    assert booted_slot(cmdline) is None
    cmdline.write_text("quiet root=LABEL=K3OS_STATE k3os.slot=previous\n")
    assert booted_slot(cmdline) == "previous"
    cmdline.write_text("k3os.slot=bogus\n")
    assert booted_slot(cmdline) is None


def test_health_checks_with_a_fake_clock() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    attempts = iter(["not yet", "not yet", None])
    spec = HealthSpec(timeout=10, interval=2, extra=[lambda: next(attempts)])
    assert run_checks(spec, clock=lambda: now[0], sleep=sleep) is None
    assert now[0] == 4
    now[0] = 0
    spec = HealthSpec(timeout=5, interval=2, extra=[lambda: "node not Ready"])
    reason = run_checks(spec, clock=lambda: now[0], sleep=sleep)
    assert reason == "not healthy within 5s: node not Ready"


def test_status_gather(tmp_path: Path, keys: KeyPair, state: StateArea) -> None:
    boot(state)
    upgrade(state, str(bundle(tmp_path, keys, "v2", seed=2)))
    info = gather(state)
    assert info["current"]["version"] == "v2"
    assert info["previous"]["version"] == "v1"
    assert info["trial"]["version"] == "v2"
    assert info["booted"] == "v1"
    assert info["next_boot"] == "v2"
    text = render_text(info)
    assert "trial:        v2 (1 boot attempt(s) left, falls back to v1)" in text
    json.dumps(info)


def test_one_writer_at_a_time(tmp_path: Path, keys: KeyPair, state: StateArea) -> None:
    v2 = str(bundle(tmp_path, keys, "v2", seed=2))
    with state.locked("a test"):
        with pytest.raises(BusyError, match="already running in another process"):
            upgrade(state, v2)
        with pytest.raises(BusyError):
            rollback(state)
        with pytest.raises(BusyError):
            confirm(state, HEALTHY)
    assert upgrade(state, v2).version == "v2"


def test_reinstalling_the_fallback_during_a_trial(
    tmp_path: Path, keys: KeyPair, state: StateArea
) -> None:
    boot(state)
    upgrade(state, str(bundle(tmp_path, keys, "v2", seed=2)))
    upgrade(state, str(bundle(tmp_path / "again", keys, "v1", seed=1)), reinstall=True)
    assert state.read_record().trial == Trial("v1", None, 1)
    assert (state.pointer("current"), state.pointer("previous")) == ("v1", "v1")
