"""Node-side pieces that run real commands: health checks, the reboot hook, mksquashfs builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from k3os.image.bundle import build_from_rootfs, verify_bundle
from k3os.image.errors import ImageError
from k3os.image.health import HealthSpec, run_checks
from k3os.image.keys import load_trusted
from k3os.image.upgrade import command_reboot
from tests.tooling.image_fixtures import bundle, keypair, new_state, tiny_rootfs

pytestmark = pytest.mark.integration


def k3os(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k3os", *args], capture_output=True, text=True, timeout=120
    )


def test_health_service_and_command_checks() -> None:
    spec = HealthSpec(services=["k3s"], service_command="sh -c 'exit 0' {name}", timeout=0)
    assert run_checks(spec) is None
    spec = HealthSpec(services=["k3s"], service_command="false {name}", timeout=0)
    assert "service k3s is not running" in (run_checks(spec) or "")
    spec = HealthSpec(services=["k3s"], service_command="/no/such/tool {name}", timeout=0)
    assert "could not run" in (run_checks(spec) or "")
    spec = HealthSpec(command="echo broken >&2; exit 3", timeout=0)
    expected = "health command failed: `sh -c 'echo broken >&2; exit 3'` exited 3 broken"
    assert run_checks(spec) == f"not healthy within 0s: {expected}"
    spec = HealthSpec(command="sleep 5", timeout=0.2, interval=1)
    assert "did not finish in time" in (run_checks(spec) or "")


def test_command_reboot(tmp_path: Path) -> None:
    marker = tmp_path / "rebooted"
    command_reboot(f"touch {marker}")()
    assert marker.exists()
    with pytest.raises(ImageError, match="reboot command"):
        command_reboot("false")()


def test_cli_build_squashes_a_rootfs(tmp_path: Path) -> None:
    keys = keypair(tmp_path / "keys")
    rootfs = tiny_rootfs(tmp_path / "rootfs", "v5")
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd"
    kernel.write_bytes(b"MZ" + bytes(1000))
    initrd.write_bytes(b"070701" + bytes(500))
    out = tmp_path / "v5.bundle"
    done = k3os(
        "image",
        "build",
        "--rootfs",
        str(rootfs),
        "--kernel",
        str(kernel),
        "--initrd",
        str(initrd),
        "--version",
        "v5",
        "--key",
        str(keys.key),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    verified = verify_bundle(out, load_trusted([keys.pub]))
    assert verified.manifest.k3os_version
    done = k3os("image", "verify", "--pubkey", str(keys.pub), str(out))
    assert done.returncode == 0 and "OK" in done.stdout
    # The rootfs part is a real squashfs holding the tree.
    import tarfile

    with tarfile.open(out) as tar:
        tar.extract("rootfs.squashfs", tmp_path / "x", filter="data")
    listing = subprocess.run(
        ["unsquashfs", "-l", str(tmp_path / "x/rootfs.squashfs")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "squashfs-root/etc/os-release" in listing
    # Two builds of the same tree give the same squashfs bytes (fixed times).
    again = tmp_path / "again.bundle"
    build_from_rootfs(rootfs, kernel, initrd, version="v5", key_path=keys.key, out=again)
    m2 = verify_bundle(again, load_trusted([keys.pub])).manifest
    assert m2.part("rootfs.squashfs") == verified.manifest.part("rootfs.squashfs")


def test_build_errors(tmp_path: Path) -> None:
    keys = keypair(tmp_path / "keys")
    kernel = tmp_path / "k"
    kernel.write_bytes(b"k")
    with pytest.raises(ImageError, match="must be a directory"):
        build_from_rootfs(
            tmp_path / "nope", kernel, kernel, version="v1", key_path=keys.key, out=tmp_path / "o"
        )
    unreadable = tmp_path / "rootfs"
    unreadable.mkdir()
    with pytest.raises(ImageError, match="not a valid version"):
        build_from_rootfs(
            unreadable, kernel, kernel, version="-bad", key_path=keys.key, out=tmp_path / "o"
        )


def test_status_of_a_root_through_the_cli(tmp_path: Path) -> None:
    keys = keypair(tmp_path / "keys")
    new_state(tmp_path / "root", bundle(tmp_path, keys, "v1"), keys)
    done = k3os("status", "--root", str(tmp_path / "root"), "--json")
    assert done.returncode == 0, done.stderr
    assert '"version": "v1"' in done.stdout
