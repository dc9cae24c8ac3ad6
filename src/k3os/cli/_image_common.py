"""Options and helpers shared by the node image commands (upgrade, rollback, status, ...)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from k3os.image.errors import ImageError
from k3os.image.state import CMDLINE, StateArea, booted_slot

F = TypeVar("F", bound=Callable[..., Any])
OS_RELEASE = Path("/etc/os-release")


def root_option(func: F) -> F:
    return click.option(
        "--root",
        "root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Root of the system to act on (default: / on a booted k3os system only).",
    )(func)


def on_booted_k3os(cmdline: Path = CMDLINE, os_release: Path = OS_RELEASE) -> bool:
    """Booted from a k3os boot entry (`k3os.slot=`), or an os-release that says ID=k3os
    (the test the config engine uses too)."""
    if booted_slot(cmdline) is not None:
        return True
    try:
        lines = os_release.read_text().splitlines()
    except OSError:
        return False
    return any(line.strip() in ("ID=k3os", 'ID="k3os"') for line in lines)


def resolve_root(root: Path | None, cmdline: Path = CMDLINE, os_release: Path = OS_RELEASE) -> Path:
    """The root to act on; the real / only on a booted k3os box or when asked for by name."""
    if root is not None:
        return root
    if on_booted_k3os(cmdline, os_release):
        return Path("/")
    raise click.UsageError(
        "refusing to touch this machine's real /: it is not a booted k3os system; "
        "pass --root PATH (or --root / to insist)"
    )


def state_for(root: Path | None) -> StateArea:
    return StateArea.for_root(resolve_root(root))


def reboot_option(func: F) -> F:
    func = click.option(
        "--reboot-command",
        default=lambda: os.environ.get("K3OS_REBOOT_COMMAND", "reboot"),
        show_default="$K3OS_REBOOT_COMMAND or reboot",
        help="Command that reboots the machine.",
    )(func)
    return click.option("--no-reboot", is_flag=True, help="Do not reboot afterwards.")(func)


def image_errors(func: F) -> F:
    """Turn a k3os.image error into one clear line and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ImageError as e:
            raise click.ClickException(str(e)) from e

    return wrapper  # type: ignore[return-value]
