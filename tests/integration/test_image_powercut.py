"""Power-cut safety: SIGKILL an upgrade at every step, then boot what is left.

Each case runs `k3os upgrade` in a subprocess that kills itself with SIGKILL at one named
step (`K3OS_TEST_CRASH_AT`). Boot selection on the remains must pick a version that is
complete and verifies (signature and every checksum) and is exactly the old or the new
bundle, never a mixture; a trial of the new one must still fall back to the old.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from k3os.image.bundle import verify_bundle, verify_installed
from k3os.image.health import HealthSpec, confirm
from k3os.image.keys import load_trusted
from k3os.image.manifest import Manifest
from k3os.image.state import StateArea
from k3os.image.upgrade import upgrade
from tests.tooling.image_fixtures import KeyPair, bundle, keypair, new_state
from tests.tooling.range_http import Served, serve

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Kit:
    keys: KeyPair
    bundles: dict[str, Path]
    manifests: dict[str, Manifest]


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    work = tmp_path_factory.mktemp("powercut")
    keys = keypair(work / "keys")
    bundles = {
        v: bundle(work, keys, v, seed=n, size=100_000) for n, v in enumerate(["v0", "v1", "v2"])
    }
    trusted = load_trusted([keys.pub])
    manifests = {v: verify_bundle(p, trusted).manifest for v, p in bundles.items()}
    return Kit(keys, bundles, manifests)


@pytest.fixture(scope="module")
def http(kit: Kit) -> Iterator[Served]:
    with serve(Served(files={"v2.bundle": kit.bundles["v2"].read_bytes()})) as served:
        yield served


def running_v1(root: Path, kit: Kit) -> StateArea:
    """v0 installed, v1 upgraded to, booted and committed: current v1, previous v0."""
    state = new_state(root, kit.bundles["v0"], kit.keys)
    state.boot()
    upgrade(state, str(kit.bundles["v1"]))
    state.boot()
    assert confirm(state, HealthSpec(timeout=0))[0] == "committed"
    return state


def k3os(*args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "K3OS_TEST_CRASH_AT"}
    if crash_at:
        env["K3OS_TEST_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "k3os", *args], env=env, capture_output=True, text=True, timeout=120
    )


def assert_boots_whole(state: StateArea, kit: Kit, allowed: set[str]) -> str:
    decision = state.boot("current")
    version = decision.version
    assert version in allowed, decision
    trusted = load_trusted([kit.keys.pub])
    on_disk = verify_installed(state.system / version, trusted, full=True)
    assert on_disk == kit.manifests[version]  # the very parts of that bundle, nothing mixed
    return version


UPGRADE_POINTS = [
    "start",
    "verified",
    "stage-start",
    "stage-part-0",
    "stage-part-1",
    "stage-part-2",
    "stage-unpacked",
    "stage-done",
    "trial-recorded",
    "symlink-previous-tmp",
    "previous-switched",
    "symlink-current-tmp",
    "current-switched",
    "gc-moved",
    "collected",
    "reboot",
]


@pytest.mark.parametrize("point", UPGRADE_POINTS)
def test_sigkill_during_upgrade_from_file(tmp_path: Path, kit: Kit, point: str) -> None:
    state = running_v1(tmp_path / "root", kit)
    done = k3os(
        "upgrade",
        "--root",
        str(tmp_path / "root"),
        "--image",
        str(kit.bundles["v2"]),
        "--reboot-command",
        "true",
        crash_at=point,
    )
    assert done.returncode == -signal.SIGKILL, (done.stdout, done.stderr)
    check_remains(state, kit, tmp_path)


@pytest.mark.parametrize("point", ["download-mid", "downloaded"])
def test_sigkill_during_upgrade_from_url(
    tmp_path: Path, kit: Kit, http: Served, point: str
) -> None:
    state = running_v1(tmp_path / "root", kit)
    done = k3os(
        "upgrade",
        "--root",
        str(tmp_path / "root"),
        "--image",
        http.url("v2.bundle"),
        "--no-reboot",
        crash_at=point,
    )
    assert done.returncode == -signal.SIGKILL, (done.stdout, done.stderr)
    check_remains(state, kit, tmp_path, source=http.url("v2.bundle"))


def check_remains(state: StateArea, kit: Kit, tmp_path: Path, source: str | None = None) -> None:
    first = assert_boots_whole(state, kit, {"v1", "v2"})
    if first == "v2":
        # The new version is on trial and never confirmed: the next boot must fall back.
        assert assert_boots_whole(state, kit, {"v1"}) == "v1"
    # What is left can always be upgraded again (leftovers are cleaned up first).
    again = k3os(
        "upgrade",
        "--root",
        str(state.path.parent.parent),
        "--image",
        source or str(kit.bundles["v2"]),
        "--reinstall",
        "--no-reboot",
    )
    assert again.returncode == 0, again.stderr
    assert assert_boots_whole(state, kit, {"v2"}) == "v2"
    assert not list(state.staging.iterdir())


@pytest.mark.parametrize("point", ["stage-unpacked", "stage-exchanged", "trial-recorded"])
def test_sigkill_during_reinstall_of_the_running_version(
    tmp_path: Path, kit: Kit, point: str
) -> None:
    state = running_v1(tmp_path / "root", kit)
    done = k3os(
        "upgrade",
        "--root",
        str(tmp_path / "root"),
        "--image",
        str(kit.bundles["v1"]),
        "--reinstall",
        "--no-reboot",
        crash_at=point,
    )
    assert done.returncode == -signal.SIGKILL, (done.stdout, done.stderr)
    assert assert_boots_whole(state, kit, {"v1"}) == "v1"


@pytest.mark.parametrize(
    "point", ["boot-interim-recorded", "symlink-current-tmp", "boot-pointers-moved"]
)
def test_sigkill_during_a_boot_time_fallback(tmp_path: Path, kit: Kit, point: str) -> None:
    state = running_v1(tmp_path / "root", kit)
    upgrade(state, str(kit.bundles["v2"]))
    assert state.boot().version == "v2"  # trial boot, never confirmed
    done = k3os("boot-select", "--root", str(tmp_path / "root"), crash_at=point)
    assert done.returncode == -signal.SIGKILL, (done.stdout, done.stderr)
    assert assert_boots_whole(state, kit, {"v1"}) == "v1"
    failure = state.read_record().last_failure
    assert failure is not None and failure.version == "v2"
