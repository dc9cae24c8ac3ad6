"""Bootloader configuration: a GRUB menu with current, previous and recovery entries.

GRUB reads the ext4 state partition and follows the `system/current` and
`system/previous` symlinks itself, so the menu never needs rewriting when pointers move.
Each entry tells the initramfs which slot it came from (`k3os.slot=`); the initramfs runs
`k3os boot-select`, which may switch pointers and reboot once to load the right kernel.
The EFI partition holds a GRUB EFI binary (when grub-mkimage and the target's modules are
installed) and a stub config that finds the state partition by label.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Final

from k3os.image.errors import InstallError

STATE_LABEL: Final = "K3OS_STATE"
EFI_LABEL: Final = "K3OS_EFI"

# Modules built into the EFI binary: enough to read GPT, FAT and ext4, find a label, show
# the menu on screen and serial, and load a Linux kernel.
GRUB_MODULES: Final = (
    *("part_gpt", "fat", "ext2", "search", "search_label", "configfile", "normal"),
    *("echo", "test", "linux", "serial", "terminal", "all_video", "efi_gop"),
)
# bundle architecture -> (GRUB platform, removable-media file name)
EFI_TARGETS: Final = {
    "x86_64": ("x86_64-efi", "BOOTX64.EFI"),
    "aarch64": ("arm64-efi", "BOOTAA64.EFI"),
}
GRUB_LIB: Final = Path("/usr/lib/grub")

_ENTRY = """menuentry "{title}" --id {slot} {{
    echo "k3os: booting {slot} from /system/{pointer}"
    search --no-floppy --label {label} --set=root
    linux /system/{pointer}/vmlinuz root=LABEL={label} k3os.slot={slot}{extra}
    initrd /system/{pointer}/initrd
}}
"""


def state_grub_cfg(cmdline: str = "", timeout: int = 5) -> str:
    """The menu at `boot/grub/grub.cfg` on the state partition."""
    extra = f" {cmdline.strip()}" if cmdline.strip() else ""
    head = (
        "# Written by k3os install. Entries follow the system/current and system/previous\n"
        "# symlinks; boot selection in the initramfs decides what actually runs.\n"
        f"set timeout={timeout}\nset default=current\n"
        "serial --unit=0 --speed=115200\n"
        "terminal_input console serial\nterminal_output console serial\n\n"
    )
    entries = [
        ("k3os (current)", "current", "current", extra),
        ("k3os (previous)", "previous", "previous", extra),
        ("k3os recovery shell (current)", "recovery", "current", f"{extra} k3os.mode=recovery"),
    ]
    return head + "\n".join(
        _ENTRY.format(title=t, slot=s, pointer=p, label=STATE_LABEL, extra=e)
        for t, s, p, e in entries
    )


def efi_grub_cfg() -> str:
    """The stub on the EFI partition (`EFI/BOOT/grub.cfg`): hand over to the state menu."""
    return (
        f"search --no-floppy --label {STATE_LABEL} --set=root\n"
        "set prefix=($root)/boot/grub\n"
        "configfile ($root)/boot/grub/grub.cfg\n"
    )


def make_efi_binary(arch: str, dest_dir: Path, grub_lib: Path = GRUB_LIB) -> Path | None:
    """Build GRUB's removable-media EFI binary for `arch` into `dest_dir`.

    Returns None when this host cannot (no grub-mkimage, or no modules for that target).
    """
    target = EFI_TARGETS.get(arch)
    tool = shutil.which("grub-mkimage")
    if target is None or tool is None or not (grub_lib / target[0]).is_dir():
        return None
    out = dest_dir / target[1]
    argv = [tool, "-O", target[0], "-d", str(grub_lib / target[0]), "-o", str(out)]
    argv += ["-p", "/EFI/BOOT", *GRUB_MODULES]
    try:
        subprocess.run(argv, capture_output=True, text=True, check=True)
    except subprocess.CalledProcessError as e:
        raise InstallError(f"grub-mkimage failed: {e.stderr.strip()}") from e
    return out
