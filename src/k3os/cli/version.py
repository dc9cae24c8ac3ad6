"""`k3os version`."""

from __future__ import annotations

import json
import platform

import click

from k3os._version import __version__


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def version(as_json: bool) -> None:
    """Print the k3os version."""
    info = {"version": __version__, "python": platform.python_version(), "arch": platform.machine()}
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo(f"k3os {__version__} (python {info['python']}, {info['arch']})")
