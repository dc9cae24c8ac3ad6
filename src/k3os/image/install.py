"""Installing to a disk or a disk image file: GPT, EFI + state partitions, system, config.

Partitions are reached through loop devices attached with `losetup --offset --sizelimit`
computed from sfdisk's table, which works for image files and block devices alike (and on
hosts where `losetup -P` partition nodes never appear). The state partition is built from a
directory with `mkfs.ext4 -d`, so nothing is mounted; the EFI partition gets the GRUB stub
through mtools.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from k3os.image.bundle import VerifiedBundle
from k3os.image.errors import InstallError
from k3os.image.fsutil import atomic_write
from k3os.image.grub import (
    EFI_LABEL,
    STATE_LABEL,
    efi_grub_cfg,
    make_efi_binary,
    state_grub_cfg,
)
from k3os.image.nodeconfig import dump_config, without_install_section
from k3os.image.selection import BootRecord
from k3os.image.state import StateArea

log = logging.getLogger(__name__)

MIB: Final = 1 << 20
_SLACK: Final = 48 * MIB


@dataclass(frozen=True)
class Partition:
    name: str
    offset: int
    size: int


@dataclass(frozen=True)
class InstallResult:
    device: Path
    version: str
    efi: Partition
    state: Partition
    efi_binary: bool


def _run(argv: Sequence[str], *, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=True)
    except FileNotFoundError as e:
        raise InstallError(f"{argv[0]} not found; it is needed to install") from e
    except subprocess.CalledProcessError as e:
        raise InstallError(f"{' '.join(argv)} failed: {(e.stderr or e.stdout).strip()}") from e
    return done.stdout


def device_size(device: Path) -> int:
    mode = device.stat().st_mode
    if stat.S_ISREG(mode):
        return device.stat().st_size
    if stat.S_ISBLK(mode):
        return int(_run(["blockdev", "--getsize64", str(device)]).strip())
    raise InstallError(f"{device}: not a block device or a disk image file")


def in_use(device: Path, mounts: Path = Path("/proc/mounts")) -> str | None:
    """Why writing `device` now would destroy something in use, or None."""
    if device.is_file():
        attached = _run(["losetup", "-j", str(device)]).strip()
        if attached:
            return f"it is attached to a loop device ({attached.split(':')[0]}); detach it first"
        return None
    real = os.path.realpath(device)
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return None
    ours = re.compile(re.escape(real) + r"(p?\d+)?")
    for line in lines:
        source, target, *_ = [*line.split(), "", ""]
        if source.startswith("/dev/") and ours.fullmatch(os.path.realpath(source)):
            return f"{source} is mounted at {target}; unmount it first"
    return None


def required_size(bundle: VerifiedBundle, efi_mib: int) -> int:
    payload = sum(p.size for p in bundle.manifest.parts)
    return efi_mib * MIB + payload + payload // 5 + _SLACK


def partition(device: Path, efi_mib: int) -> tuple[Partition, Partition]:
    script = f'label: gpt\nsize={efi_mib}MiB, type=U, name="EFI"\ntype=L, name="{STATE_LABEL}"\n'
    _run(
        ["sfdisk", "--quiet", "--wipe", "always", "--wipe-partitions", "always", str(device)],
        stdin=script,
    )
    return read_table(device)


def read_table(device: Path) -> tuple[Partition, Partition]:
    """The EFI and state partitions, as byte offsets and sizes, from `sfdisk -J`."""
    table = json.loads(_run(["sfdisk", "-J", str(device)]))["partitiontable"]
    sector = int(table.get("sectorsize", 512))
    parts = [
        Partition(p.get("name", ""), int(p["start"]) * sector, int(p["size"]) * sector)
        for p in table.get("partitions", [])
    ]
    if len(parts) != 2:
        raise InstallError(
            f"{device}: expected 2 partitions after partitioning, found {len(parts)}"
        )
    return parts[0], parts[1]


@contextlib.contextmanager
def attach(device: Path, part: Partition) -> Iterator[str]:
    """A loop device over one partition; detached on the way out."""
    loop = _run(
        [
            "losetup",
            "--find",
            "--show",
            "--offset",
            str(part.offset),
            "--sizelimit",
            str(part.size),
            str(device),
        ]
    ).strip()
    try:
        yield loop
    finally:
        subprocess.run(["losetup", "-d", loop], check=False, capture_output=True)


def populate_state(
    tree: Path,
    bundle: VerifiedBundle,
    config_text: str,
    trusted_pems: Sequence[bytes],
    cmdline: str,
    grub_timeout: int = 5,
) -> None:
    """Lay out a fresh state area in the directory `tree`."""
    state = StateArea(tree)
    state.init()
    for index, pem in enumerate(trusted_pems):
        atomic_write(state.trusted_dir / f"install-{index}.pub", pem)
    state.stage(bundle, replace=False)
    state.set_pointer("current", bundle.manifest.version)
    state.write_record(BootRecord())
    atomic_write(tree / "config.yaml", config_text.encode(), mode=0o600)
    (tree / "boot/grub").mkdir(parents=True, exist_ok=True)
    atomic_write(tree / "boot/grub/grub.cfg", state_grub_cfg(cmdline, grub_timeout).encode())


def install(
    device: Path,
    bundle: VerifiedBundle,
    config: dict[str, object],
    trusted_pems: Sequence[bytes],
    *,
    efi_mib: int = 64,
    create_size: int | None = None,
    cmdline: str = "",
    grub_timeout: int = 5,
    say: Callable[[str], None] = lambda _: None,
) -> InstallResult:
    """Partition `device`, format both partitions and write the system and the config."""
    if not trusted_pems:
        raise InstallError("no trusted public key to install (pass --pubkey)")
    needed = required_size(bundle, efi_mib)
    if not device.exists():
        if create_size is None:
            raise InstallError(f"{device}: does not exist (pass --size to create an image file)")
        if create_size < needed:
            raise InstallError(f"--size {create_size}: too small, need at least {needed} bytes")
        with device.open("wb") as f:
            f.truncate(create_size)
    size = device_size(device)
    busy = in_use(device)
    if busy:
        raise InstallError(f"{device}: refusing to install: {busy}")
    if size < needed:
        raise InstallError(f"{device}: {size} bytes is too small, need at least {needed} bytes")
    config_text = dump_config(without_install_section(config))
    say(f"partitioning {device} (GPT: EFI {efi_mib} MiB, {STATE_LABEL})")
    efi, state_part = partition(device, efi_mib)
    with tempfile.TemporaryDirectory(prefix="k3os-install-") as tmp:
        stub = Path(tmp) / "grub.cfg"
        stub.write_text(efi_grub_cfg())
        binary = make_efi_binary(bundle.manifest.arch, Path(tmp))
        if binary is None:
            say(f"no GRUB EFI binary for {bundle.manifest.arch} on this host: config only")
        with attach(device, efi) as loop:
            say(f"formatting EFI partition on {loop}")
            _run(["mkfs.vfat", "-n", EFI_LABEL, loop])
            _mtools(["mmd", "-i", loop, "::/EFI", "::/EFI/BOOT"])
            for path in (stub, binary):
                if path is not None:
                    _mtools(["mcopy", "-i", loop, str(path), f"::/EFI/BOOT/{path.name}"])
        tree = Path(tmp) / "state"
        tree.mkdir()
        say(f"writing system {bundle.manifest.version}")
        populate_state(tree, bundle, config_text, trusted_pems, cmdline, grub_timeout)
        with attach(device, state_part) as loop:
            say(f"formatting {STATE_LABEL} on {loop}")
            _run(["mkfs.ext4", "-q", "-F", "-L", STATE_LABEL, "-d", str(tree), loop])
    with contextlib.suppress(OSError):
        os.sync()
    say(f"installed {bundle.manifest.version} to {device}")
    return InstallResult(device, bundle.manifest.version, efi, state_part, binary is not None)


def _mtools(argv: list[str]) -> None:
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    try:
        subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    except FileNotFoundError as e:
        raise InstallError(f"{argv[0]} not found: install mtools") from e
    except subprocess.CalledProcessError as e:
        raise InstallError(f"{' '.join(argv)} failed: {e.stderr.strip()}") from e
