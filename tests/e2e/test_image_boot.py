"""Boot an installed disk image in QEMU with UEFI firmware (OVMF) up to GRUB loading the
kernel that `system/current` points at.

The kernel in the test bundle is fake, so the run ends with GRUB's "invalid magic number":
proof that firmware found our EFI binary, the stub found `K3OS_STATE` by label, the menu
came up with its three entries, and GRUB read `/system/current/vmlinuz` through the symlink.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tooling.image_fixtures import bundle, keypair

pytestmark = pytest.mark.e2e

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
_ANSI = re.compile(rb"\x1b\[[0-9;?=]*[A-Za-z]")


def serial_until(argv: list[str], marker: bytes, deadline_s: float) -> bytes:
    """Run QEMU, collect its serial console until `marker` shows up, then stop it."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    seen = b""
    end = time.monotonic() + deadline_s
    try:
        while marker not in _ANSI.sub(b"", seen) and time.monotonic() < end:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                seen += chunk
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return _ANSI.sub(b"", seen)


def test_uefi_firmware_boots_grub_into_the_current_system(tmp_path: Path) -> None:
    keys = keypair(tmp_path / "keys")
    v1 = bundle(tmp_path, keys, "v1", seed=1)
    disk = tmp_path / "disk.img"
    done = subprocess.run(
        [sys.executable, "-m", "k3os", "install", "--silent", "--device", str(disk),
         "--size", "160M", "--image", str(v1), "--pubkey", str(keys.pub), "--grub-timeout", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "config only" not in done.stdout
    vars_copy = tmp_path / "vars.fd"
    shutil.copyfile(OVMF_VARS, vars_copy)
    argv = [
        "qemu-system-x86_64", "-machine", "q35", "-m", "256", "-nographic", "-no-reboot",
        "-net", "none",
        "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
        "-drive", f"if=pflash,format=raw,file={vars_copy}",
        "-drive", f"file={disk},format=raw,if=virtio",
    ]  # fmt: skip
    out = serial_until(argv, b"invalid magic number", deadline_s=240)
    text = out.decode(errors="replace")
    for expected in (
        "k3os (current)",
        "k3os (previous)",
        "k3os recovery shell (current)",
        "k3os: booting current from /system/current",
        "invalid magic number",
    ):
        assert expected in text, text[-3000:]
    assert "not found" not in text.split("k3os: booting current")[1], text[-3000:]
