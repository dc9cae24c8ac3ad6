"""`k3os upgrade --image PATH_OR_URL`: stage a signed bundle and boot it once on trial."""

from __future__ import annotations

from pathlib import Path

import click

from k3os.cli._image_common import image_errors, reboot_option, root_option, state_for
from k3os.image.download import ProgressPrinter
from k3os.image.upgrade import RebootHook, command_reboot
from k3os.image.upgrade import upgrade as run_upgrade


def announced_reboot(command: str) -> RebootHook:
    run = command_reboot(command)

    def reboot() -> None:
        click.echo(f"rebooting: {command}")
        run()

    return reboot


@click.command()
@click.option("--image", "source", required=True, help="Bundle file path or http(s) URL.")
@click.option(
    "--pubkey",
    "pubkeys",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra trusted public key (besides the state area's trusted-keys/); repeatable.",
)
@click.option(
    "--reinstall", is_flag=True, help="Write the version again even if it is already on disk."
)
@click.option(
    "--attempts",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Trial boots before falling back.",
)
@click.option(
    "--keep", type=click.IntRange(min=1), default=2, show_default=True, help="Versions to keep."
)
@root_option
@reboot_option
@image_errors
def upgrade(
    source: str,
    pubkeys: tuple[Path, ...],
    reinstall: bool,
    attempts: int,
    keep: int,
    root: Path | None,
    reboot_command: str,
    no_reboot: bool,
) -> None:
    """Download (resumably), verify, stage, and set the new version for one trial boot."""
    state = state_for(root)
    click.echo(f"upgrading the system in {state.path} from {source}")
    progress = ProgressPrinter(lambda line: click.echo(line, err=True), "download")
    reboot = None if no_reboot else announced_reboot(reboot_command)
    result = run_upgrade(
        state,
        source,
        extra_keys=pubkeys,
        reinstall=reinstall,
        attempts=attempts,
        keep=keep,
        progress=progress,
        reboot=reboot,
    )
    if result.collected:
        click.echo(f"removed old versions: {', '.join(result.collected)}")
    if no_reboot:
        click.echo("not rebooting (--no-reboot); the trial starts at the next boot")
