"""`k3os kubectl ...`: kubectl with the server's admin kubeconfig, as `k3s kubectl` does.

The kubeconfig is `$KUBECONFIG` if set, else `<data-dir>/kubeconfig.yaml` where the data
dir is `$K3OS_DATA_DIR` or /var/lib/k3os. kubectl is looked up on PATH, then beside the
Python running k3os (a virtual environment's bin/).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

DEFAULT_DATA_DIR = "/var/lib/k3os"


def find_kubectl() -> str | None:
    found = shutil.which("kubectl")
    if found:
        return found
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else None


def kubeconfig_for(environ: dict[str, str]) -> str:
    if environ.get("KUBECONFIG"):
        return environ["KUBECONFIG"]
    data_dir = environ.get("K3OS_DATA_DIR", DEFAULT_DATA_DIR)
    return str(Path(data_dir) / "kubeconfig.yaml")


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def kubectl(args: tuple[str, ...]) -> None:
    """Run kubectl against this server (admin kubeconfig from the data dir)."""
    binary = find_kubectl()
    if binary is None:
        raise click.ClickException("kubectl not found on PATH (scripts/setup installs one)")
    env = dict(os.environ)
    env["KUBECONFIG"] = kubeconfig_for(env)
    if not Path(env["KUBECONFIG"]).exists():
        raise click.ClickException(
            f"{env['KUBECONFIG']}: no kubeconfig; is the server's data dir right? "
            "(set K3OS_DATA_DIR or KUBECONFIG)"
        )
    os.execve(binary, [binary, *args], env)
