"""The `k3os` command line: thin commands that parse options, set up logging and call in.

Subcommands are imported only when run, so `k3os agent` never pays for the server's imports.
"""

from __future__ import annotations

import importlib

import click

from k3os._version import __version__
from k3os.cli.logs import LEVELS, resolve_level, setup_logging

# name -> (module:attribute, one-line help). Listed here so `--help` needs no imports.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "server": ("k3os.cli.server:command", "Serve the Kubernetes API on the datastore."),
    "controller-manager": (
        "k3os.cli.controller_manager:command",
        "Run the cluster's housekeeping controllers (leader-elected).",
    ),
    "agent": ("k3os.cli.agent:command", "Run the node agent: join, register, apply, upgrade."),
    "version": ("k3os.cli.version:version", "Print the k3os version."),
    "kubectl": ("k3os.cli.kubectl:kubectl", "Run kubectl with this server's admin kubeconfig."),
    "config": ("k3os.cli.config:config", "Show, diff and apply the node OS config."),
    "image": ("k3os.cli.image:image", "Make signing keys, build and verify system bundles."),
    "install": ("k3os.cli.install:install", "Install k3os to a disk or disk image file."),
    "upgrade": ("k3os.cli.upgrade:upgrade", "Stage a system bundle and boot it on trial."),
    "rollback": ("k3os.cli.rollback:rollback", "Go back to the previous system version."),
    "status": ("k3os.cli.status:status", "Show system versions, trial and last failure."),
    "demo": ("k3os.cli.demo:command", "Start a server and simulated nodes; roll out a Plan."),
    "health": ("k3os.cli.health:health", "Health-check the version on trial; commit or fail it."),
    "boot-select": ("k3os.cli.boot_select:boot_select", "Choose the version to boot (initramfs)."),
}
#: Commands the server starts for itself, not listed in --help.
HIDDEN: dict[str, str] = {"api-worker": "k3os.cli.api_worker:command"}


class LazyGroup(click.Group):
    """A group whose subcommands live in their own modules and load on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        target = entry[0] if entry is not None else HIDDEN.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default=None,
    help="Log level (default: $K3OS_LOG_LEVEL, else info).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Readable lines, or one JSON object per line.",
)
@click.version_option(__version__, "--version", prog_name="k3os", message="%(prog)s %(version)s")
def cli(log_level: str | None, log_format: str) -> None:
    """k3os: an edge OS whose configuration and upgrades are Kubernetes resources."""
    try:
        level = resolve_level(log_level)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    setup_logging(level, "json" if log_format == "json" else "text")


def main() -> None:
    """Console entry point."""
    cli.main(prog_name="k3os")
