"""`k3os status`: slots, the booted version, a trial in progress and the last failure."""

from __future__ import annotations

import json
from pathlib import Path

import click

from k3os.cli._image_common import image_errors, root_option, state_for
from k3os.image.status import gather, render_text


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--fleet", is_flag=True, help="Show the cluster's fleet (nodes, configs, plans).")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --fleet: the cluster to ask (default: $KUBECONFIG or the server's data dir).",
)
@root_option
@image_errors
def status(as_json: bool, fleet: bool, kubeconfig: Path | None, root: Path | None) -> None:
    """Show the system versions on this node, or with --fleet the whole fleet."""
    if fleet or kubeconfig is not None:
        from k3os.cli.fleetstatus import show_fleet

        show_fleet(kubeconfig, as_json)
        return
    info = gather(state_for(root))
    click.echo(json.dumps(info, indent=2) if as_json else render_text(info))
