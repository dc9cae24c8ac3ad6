"""Bootloader configuration: a GRUB menu with current, previous and recovery entries.

GRUB reads the ext4 state partition and follows the `system/current` and
`system/previous` symlinks itself, so the menu never needs rewriting when pointers move.
Each entry tells the initramfs which slot it came from (`k3os.slot=`); the initramfs runs
`k3os boot-select`, which may switch pointers and reboot once to load the right kernel.
"""

from __future__ import annotations

from typing import Final

STATE_LABEL: Final = "K3OS_STATE"
EFI_LABEL: Final = "K3OS_EFI"

_ENTRY = """menuentry "{title}" --id {slot} {{
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
        f"set timeout={timeout}\nset default=current\n\n"
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
