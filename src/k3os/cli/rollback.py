"""`k3os rollback`: make `previous` the current version again, on demand."""

from __future__ import annotations

from pathlib import Path

import click

from k3os.cli._image_common import image_errors, reboot_option, root_option, state_for
from k3os.cli.upgrade import announced_reboot
from k3os.image.upgrade import rollback as run_rollback


@click.command()
@root_option
@reboot_option
@image_errors
def rollback(root: Path | None, reboot_command: str, no_reboot: bool) -> None:
    """Swap current and previous, end any trial, and reboot into previous."""
    state = state_for(root)
    reboot = None if no_reboot else announced_reboot(reboot_command)
    old, new = run_rollback(state, reboot=reboot)
    click.echo(f"rolled back from {old} to {new}")
