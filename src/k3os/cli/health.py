"""`k3os health`: run the health check; commit the version on trial or mark it failed."""

from __future__ import annotations

from pathlib import Path

import click

from k3os.cli._image_common import image_errors, reboot_option, root_option, state_for
from k3os.cli.upgrade import announced_reboot
from k3os.image.health import HealthSpec, confirm


@click.command()
@click.option("--service", "services", multiple=True, help="A service that must be running.")
@click.option(
    "--service-command",
    default="rc-service {name} status",
    show_default=True,
    help="How to ask whether a service runs; {name} is replaced.",
)
@click.option("--command", "command", default=None, help="A shell command that must exit 0.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to become healthy.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between retries.")
@click.option("--reboot-on-failure", is_flag=True, help="Reboot at once on failure (to fall back).")
@root_option
@reboot_option
@image_errors
def health(
    services: tuple[str, ...],
    service_command: str,
    command: str | None,
    timeout: float,
    interval: float,
    reboot_on_failure: bool,
    root: Path | None,
    reboot_command: str,
    no_reboot: bool,
) -> None:
    """Confirm the version on trial: keep it if healthy, else the next boot falls back."""
    spec = HealthSpec(
        services=services,
        service_command=service_command,
        command=command,
        timeout=timeout,
        interval=interval,
    )
    outcome, message = confirm(state_for(root), spec)
    click.echo(message)
    if outcome == "failed":
        if reboot_on_failure and not no_reboot:
            announced_reboot(reboot_command)()
        raise SystemExit(1)
