"""`k3os boot-select`: the boot selection the initramfs runs before switching root."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from k3os.cli._image_common import image_errors, root_option, state_for
from k3os.image.selection import SLOTS, Slot
from k3os.image.state import booted_slot


@click.command("boot-select")
@click.option(
    "--slot",
    type=click.Choice(SLOTS),
    default=None,
    help="Bootloader entry booted (default: k3os.slot= on the kernel command line, else current).",
)
@click.option("--dry-run", is_flag=True, help="Decide, but change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@root_option
@image_errors
def boot_select(slot: Slot | None, dry_run: bool, as_json: bool, root: Path | None) -> None:
    """Choose the version to boot, count a trial attempt, or fall back after a failed trial.

    Exit status: 0 boot the version printed, 3 reboot first (pointers moved to another
    kernel), 4 nothing bootable (recovery shell).
    """
    state = state_for(root)
    state.require()
    decision = state.boot(slot or booted_slot() or "current", dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(decision), indent=2))
    else:
        click.echo(f"{decision.version or 'none'} ({decision.mode}): {decision.reason}")
    if decision.version is None:
        raise SystemExit(4)
    if decision.reboot:
        raise SystemExit(3)
