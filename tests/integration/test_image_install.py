"""`k3os install` onto a disk image file through real loop devices; the interactive path
through a pseudo-terminal."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from k3os.image.state import StateArea
from k3os.image.upgrade import upgrade
from tests.tooling.image_fixtures import KeyPair, bundle, keypair

pytestmark = pytest.mark.integration


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return keypair(tmp_path / "keys")


def k3os(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k3os", *args], capture_output=True, text=True, timeout=300
    )


def table(disk: Path) -> dict[str, object]:
    out = subprocess.run(["sfdisk", "-J", str(disk)], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)["partitiontable"]
    return result


def loops_on(disk: Path) -> str:
    return subprocess.run(
        ["losetup", "-j", str(disk)], capture_output=True, text=True, check=True
    ).stdout.strip()


@contextmanager
def partition_loop(disk: Path, index: int) -> Iterator[str]:
    t = table(disk)
    part = t["partitions"][index]  # type: ignore[index]
    sector = int(t.get("sectorsize", 512))  # type: ignore[call-overload]
    loop = subprocess.run(
        [
            "losetup",
            "--find",
            "--show",
            "--offset",
            str(part["start"] * sector),
            "--sizelimit",
            str(part["size"] * sector),
            str(disk),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        yield loop
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)


@contextmanager
def mounted_state(disk: Path) -> Iterator[StateArea]:
    with partition_loop(disk, 1) as loop, tempfile.TemporaryDirectory() as mnt:
        subprocess.run(["mount", loop, mnt], check=True)
        try:
            yield StateArea(Path(mnt))
        finally:
            subprocess.run(["umount", mnt], check=True)


MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def grub_script_check(text: str) -> None:
    """GRUB's own parser accepts the config."""
    done = subprocess.run(["grub-script-check"], input=text, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def blkid(device: str) -> dict[str, str]:
    out = subprocess.run(
        ["blkid", "-p", "-o", "export", device], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_silent_install_to_an_image_file(tmp_path: Path, keys: KeyPair) -> None:
    disk = tmp_path / "disk.img"
    config = tmp_path / "config.yaml"
    config.write_text("hostname: edge-1\nk3os:\n  token: secret\n  install:\n    silent: true\n")
    v1 = bundle(tmp_path, keys, "v1", seed=1, size=200_000)
    done = k3os(
        "install",
        "--silent",
        "--device",
        str(disk),
        "--size",
        "256M",
        "--config",
        str(config),
        "--image",
        str(v1),
        "--pubkey",
        str(keys.pub),
        "--cmdline",
        "console=ttyS0",
    )
    assert done.returncode == 0, done.stderr
    assert "installed v1" in done.stdout
    assert loops_on(disk) == ""  # every loop device detached again
    t = table(disk)
    assert t["label"] == "gpt"
    parts = t["partitions"]
    assert [p["name"] for p in parts] == ["EFI", "K3OS_STATE"]  # type: ignore[union-attr, index]
    assert parts[0]["type"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"  # type: ignore[index]
    with partition_loop(disk, 0) as efi:
        assert blkid(efi)["LABEL"] == "K3OS_EFI" and blkid(efi)["TYPE"] == "vfat"
        stub = subprocess.run(
            ["mtype", "-i", efi, "::/EFI/BOOT/grub.cfg"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
        ).stdout
        assert "configfile ($root)/boot/grub/grub.cfg" in stub
        grub_script_check(stub)
        listing = subprocess.run(
            ["mdir", "-b", "-i", efi, "::/EFI/BOOT"],
            capture_output=True,
            text=True,
            check=True,
            env=MTOOLS_ENV,
        ).stdout
        assert "BOOTX64.EFI" in listing  # a real GRUB EFI binary, built by grub-mkimage
    with partition_loop(disk, 1) as loop:
        assert blkid(loop)["LABEL"] == "K3OS_STATE" and blkid(loop)["TYPE"] == "ext4"
    with mounted_state(disk) as state:
        assert state.pointer("current") == "v1"
        assert state.verify_version("v1").version == "v1"
        written = yaml.safe_load((state.path / "config.yaml").read_text())
        assert written == {"hostname": "edge-1", "k3os": {"token": "secret"}}
        assert (state.path / "config.yaml").stat().st_mode & 0o777 == 0o600
        grub = (state.path / "boot/grub/grub.cfg").read_text()
        grub_script_check(grub)
        for slot in ("current", "previous", "recovery"):
            assert f"k3os.slot={slot} console=ttyS0" in grub
        # The installed partition is a working state area: boot it, upgrade it, boot again.
        assert state.boot().version == "v1"
        upgrade(state, str(bundle(tmp_path, keys, "v2", seed=2)))
        assert state.boot().version == "v2"
    with mounted_state(disk) as state:
        assert state.read_record().trial is not None
        assert state.boot().version == "v1"  # the unconfirmed trial falls back


def test_install_refuses_a_disk_that_is_too_small(tmp_path: Path, keys: KeyPair) -> None:
    disk = tmp_path / "small.img"
    disk.write_bytes(b"keep me" * 1000)
    v1 = bundle(tmp_path, keys, "v1")
    done = k3os(
        "install", "--silent", "--device", str(disk), "--image", str(v1), "--pubkey", str(keys.pub)
    )
    assert done.returncode == 1 and "too small" in done.stderr
    assert disk.read_bytes() == b"keep me" * 1000
    done = k3os(
        "install",
        "--silent",
        "--device",
        str(tmp_path / "new.img"),
        "--image",
        str(v1),
        "--pubkey",
        str(keys.pub),
    )
    assert done.returncode == 1 and "pass --size" in done.stderr
    done = k3os(
        "install",
        "--silent",
        "--device",
        str(tmp_path / "new.img"),
        "--size",
        "1M",
        "--image",
        str(v1),
        "--pubkey",
        str(keys.pub),
    )
    assert done.returncode == 1 and "too small" in done.stderr
    assert not (tmp_path / "new.img").exists()


class Terminal:
    """Drive a command on a pseudo-terminal that is its controlling terminal."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            ["setsid", "-c", *argv], stdin=slave, stdout=slave, stderr=slave, close_fds=True
        )
        os.close(slave)
        self.seen = ""
        self._pos = 0

    def expect(self, text: str, wait: float = 120) -> None:
        while text not in self.seen[self._pos :]:
            ready, _, _ = select.select([self.master], [], [], wait)
            if not ready:
                raise AssertionError(f"never saw {text!r}; got:\n{self.seen}")
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"exited before {text!r}; got:\n{self.seen}")
            self.seen += chunk.decode(errors="replace")
        self._pos = self.seen.index(text, self._pos) + len(text)

    def answer(self, prompt: str, reply: str) -> None:
        self.expect(prompt)
        os.write(self.master, (reply + "\n").encode())

    def finish(self) -> int:
        try:
            while chunk := os.read(self.master, 4096):
                self.seen += chunk.decode(errors="replace")
        except OSError:
            pass
        os.close(self.master)
        return self.proc.wait(timeout=120)


def test_interactive_install_through_a_pty(tmp_path: Path, keys: KeyPair) -> None:
    disk = tmp_path / "disk.img"
    with disk.open("wb") as f:
        f.truncate(256 << 20)
    v1 = bundle(tmp_path, keys, "v1", seed=1)
    term = Terminal(
        [sys.executable, "-m", "k3os", "install", "--image", str(v1), "--pubkey", str(keys.pub)]
    )
    term.answer("Installation target (device or image file)", str(disk))
    term.answer("Config system with cloud-init file?", "")
    term.answer("Authorize GitHub users to SSH?", "")
    term.answer("Please enter password for [rancher]", "s3cret")
    term.answer("Repeat for confirmation", "s3cret")
    term.answer("Configure WiFi?", "y")
    term.answer("WiFi name", "shop-floor")
    term.answer("WiFi passphrase", "pa55word")
    term.answer("Configure another WiFi network?", "n")
    term.answer("Run as server or agent?", "agent")
    term.answer("URL of server", "https://10.0.0.1:6443")
    term.answer("Token or cluster secret", "K10token")
    term.expect("Install settings:")
    term.expect("server_url: https://10.0.0.1:6443")
    term.answer("Continue?", "y")
    term.expect("installed v1")
    assert term.finish() == 0, term.seen
    for secret in ("s3cret", "pa55word", "K10token"):
        assert secret not in term.seen.split("Token or cluster secret")[0], term.seen  # hidden
    assert "passphrase: '********'" in term.seen or "passphrase: ********" in term.seen
    with mounted_state(disk) as state:
        config = yaml.safe_load((state.path / "config.yaml").read_text())
        k3os_cfg = config["k3os"]
        assert k3os_cfg["password"].startswith("$6$")
        assert k3os_cfg["wifi"] == [{"name": "shop-floor", "passphrase": "pa55word"}]
        assert k3os_cfg["server_url"] == "https://10.0.0.1:6443"
        assert k3os_cfg["token"] == "K10token"
        assert state.pointer("current") == "v1"


def test_interactive_install_can_be_cancelled(tmp_path: Path, keys: KeyPair) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"untouched")
    config = tmp_path / "c.yaml"
    config.write_text("hostname: box\n")
    v1 = bundle(tmp_path, keys, "v1", seed=1)
    term = Terminal(
        [
            sys.executable,
            "-m",
            "k3os",
            "install",
            "--image",
            str(v1),
            "--pubkey",
            str(keys.pub),
            "--device",
            str(disk),
        ]
    )
    term.answer("Config system with cloud-init file?", str(config))
    term.answer("Please enter password for [rancher]", "pw")
    term.answer("Repeat for confirmation", "pw")
    term.answer("Configure WiFi?", "n")
    term.answer("Run as server or agent?", "server")
    term.answer("Token or cluster secret (optional)", "")
    term.expect("hostname: box")
    term.answer("Continue?", "n")
    term.expect("nothing was written")
    assert term.finish() == 1
    assert disk.read_bytes() == b"untouched"


def test_install_refuses_a_disk_in_use(tmp_path: Path, keys: KeyPair) -> None:
    disk = tmp_path / "busy.img"
    with disk.open("wb") as f:
        f.truncate(256 << 20)
    v1 = bundle(tmp_path, keys, "v1")
    loop = subprocess.run(
        ["losetup", "--find", "--show", str(disk)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        done = k3os(
            "install",
            "--silent",
            "--device",
            str(disk),
            "--image",
            str(v1),
            "--pubkey",
            str(keys.pub),
        )
        assert done.returncode == 1
        assert f"attached to a loop device ({loop})" in done.stderr
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
    assert subprocess.run(["sfdisk", "-d", str(disk)], capture_output=True).returncode != 0


def test_in_use_reads_mounts(tmp_path: Path) -> None:
    from k3os.image.install import in_use

    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/sdz1 /media/usb ext4 rw 0 0\nproc /proc proc rw 0 0\n")
    assert (
        in_use(Path("/dev/sdz"), mounts) == "/dev/sdz1 is mounted at /media/usb; unmount it first"
    )
    assert in_use(Path("/dev/sdy"), mounts) is None
    assert in_use(Path("/dev/sd"), mounts) is None  # /dev/sdz1 is not a partition of /dev/sd
    assert in_use(Path("/dev/sdy"), tmp_path / "missing") is None
