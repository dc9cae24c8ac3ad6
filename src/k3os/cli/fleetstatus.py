"""`k3os status --fleet`: the fleet as the cluster sees it (nodes, versions, config hashes,
NodeConfig counts, plan progress), from `--kubeconfig`, `$KUBECONFIG`, or the admin
kubeconfig of a server data dir on this machine.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import click

__all__ = ["DEFAULT_KUBECONFIGS", "find_kubeconfig", "show_fleet"]

DEFAULT_KUBECONFIGS = (Path("/var/lib/k3os/kubeconfig.yaml"), Path("/etc/k3os/kubeconfig.yaml"))


def find_kubeconfig(given: Path | None) -> Path:
    """The kubeconfig to use; a click error naming what was tried when there is none."""
    if given is not None:
        if not given.is_file():
            raise click.ClickException(f"{given}: no such kubeconfig file")
        return given
    tried = []
    env = os.environ.get("KUBECONFIG", "")
    candidates = [Path(p) for p in env.split(os.pathsep) if p] + list(DEFAULT_KUBECONFIGS)
    for path in candidates:
        if path.is_file():
            return path
        tried.append(str(path))
    raise click.ClickException(
        f"no kubeconfig found (tried {', '.join(tried)}); pass --kubeconfig FILE"
    )


def show_fleet(kubeconfig: Path | None, as_json: bool) -> None:
    from rich.console import Console

    from k3os.cli.fleetview import fetch_snapshot, render_snapshot
    from k3os.client import ClientError

    path = find_kubeconfig(kubeconfig)
    try:
        snap = asyncio.run(fetch_snapshot(path))
    except (ClientError, OSError, ValueError) as e:
        raise click.ClickException(f"{path}: {e}") from e
    if as_json:
        click.echo(json.dumps(snap.as_dict(), indent=2))
        return
    console = Console()
    if not console.is_terminal:  # piped or redirected: whole words, as kubectl prints them
        console = Console(width=max(console.width, 200))
    console.print(render_snapshot(snap))
