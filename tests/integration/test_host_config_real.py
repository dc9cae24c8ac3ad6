"""`k3os config` for real: a separate process applies phases to a root with a static
busybox shell, commands run inside it through chroot, and a NoCloud volume labelled
`cidata` on a real loop device is found, mounted read-only and read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from k3os.config import load_config

pytestmark = pytest.mark.integration

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def k3os(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k3os", "config", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin/busybox")
    for tool in ("sh", "echo", "cat", "touch"):
        (root / "bin" / tool).symlink_to("busybox")
    (root / "tmp").mkdir()
    config = root / "k3os/system/config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        """
hostname: real-01
write_files:
- path: /etc/greeting
  content: hello
init_cmd: ["echo initrd > /tmp/phase-initrd"]
boot_cmd: ["cat /etc/greeting > /tmp/phase-boot", "echo changed > /etc/greeting"]
run_cmd:
- echo runtime $(cat /etc/hostname) > /tmp/phase-runtime
- echo to-stderr >&2; exit 3
- touch /tmp/never
"""
    )
    return root


def test_phases_run_their_commands_inside_the_root(root: Path) -> None:
    done = k3os("--root", str(root), "--cmdline", "", "--phase", "initrd", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "tmp/phase-initrd").read_text() == "initrd\n"
    done = k3os("--root", str(root), "--cmdline", "", "--phase", "boot", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "tmp/phase-boot").read_text() == "hello"
    # boot_cmd changed a written file; the runtime phase keeps that edit (k3OS #93)
    done = k3os("--root", str(root), "--cmdline", "", "--phase", "runtime", "--apply")
    assert done.returncode == 1
    assert (root / "etc/greeting").read_text() == "changed\n"
    assert (root / "tmp/phase-runtime").read_text() == "runtime real-01\n"
    assert "command run_cmd[1]: failed with exit code 3\n  | to-stderr\n" in done.stdout
    assert "command not run: run_cmd[2]" in done.stdout
    assert not (root / "tmp/never").exists()
    assert "/etc/greeting: edited on the node since k3os wrote it; left alone" in done.stderr
    assert not Path("/tmp/phase-initrd").exists()  # nothing ran on the host itself


@pytest.fixture
def cidata_device(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or not shutil.which("losetup"):
        pytest.fail("this test needs root and losetup (scripts/setup --dev installs util-linux)")
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "meta-data").write_text("local-hostname: from-volume\n")
    (seed / "user-data").write_text("#cloud-config\nk3os:\n  labels: {seeded: 'yes'}\n")
    image = tmp_path / "cidata.img"
    with image.open("wb") as f:
        f.truncate(4 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-L", "cidata", "-d", str(seed), str(image)], check=True)
    device = subprocess.run(
        ["losetup", "-f", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield Path(device)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def test_nocloud_volume_labelled_cidata(tmp_path: Path, cidata_device: Path) -> None:
    root = tmp_path / "root"
    labels = root / "dev/disk/by-label"
    labels.mkdir(parents=True)
    (labels / "cidata").symlink_to(cidata_device)
    local = root / "var/lib/rancher/k3os/config.yaml"
    local.parent.mkdir(parents=True)
    local.write_text("k3os:\n  data_sources: [nocloud]\n")
    config, provenance = load_config(root, "")
    assert config.hostname == "from-volume"
    assert config.k3os.labels == {"seeded": "yes"}
    assert provenance[("k3os", "labels", "seeded")].line == 3
    mounts = Path("/proc/mounts").read_text()
    assert str(cidata_device) not in mounts  # unmounted again
