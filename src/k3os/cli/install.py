"""`k3os install`: put k3os on a disk (or a disk image file), asking what k3OS's installer asked.

The image bundle and the trusted key come from the live medium by default; the verify
happens before any question, so a bad bundle is refused before anything is touched.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Final

import click

from k3os.cli._image_common import image_errors
from k3os.image.bundle import VerifiedBundle, verify_bundle
from k3os.image.install import install as run_install
from k3os.image.keys import load_trusted, public_pem
from k3os.image.nodeconfig import (
    InstallAnswers,
    dump_config,
    hash_password,
    load_config,
    merge_answers,
)

DEFAULT_BUNDLE: Final = Path("/usr/lib/k3os/system.bundle")
DEFAULT_KEYS: Final = Path("/usr/lib/k3os/trusted-keys")
_SIZE_RE: Final = re.compile(r"^(\d+)([KMGT]?)(i?B)?$", re.IGNORECASE)


def parse_size(text: str) -> int:
    match = _SIZE_RE.match(text.strip())
    if not match:
        raise click.BadParameter(f"{text!r}: expected a size like 2G, 512M or 1048576")
    power = " KMGT".index(match.group(2).upper() or " ")
    return int(match.group(1)) << (10 * power)


def list_disks() -> list[str]:
    try:
        out = subprocess.run(
            ["lsblk", "-dnpo", "NAME,SIZE,TYPE"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line.split()[0] for line in out.splitlines() if line.split()[-1:] == ["disk"]]


_SECRETS: Final = frozenset({"password", "passphrase", "token"})


def masked(value: Any) -> Any:
    """A copy of the config fit to show on screen: secrets replaced by stars."""
    if isinstance(value, dict):
        return {k: "********" if k in _SECRETS and v else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def ask(config: dict[str, Any], had_config: bool) -> InstallAnswers:
    """The k3OS questions, skipping what the config already answers."""
    answers = InstallAnswers()
    k3os = config.get("k3os") or {}
    if not had_config:
        users = click.prompt(
            "Authorize GitHub users to SSH? (comma-separated, empty for none)",
            default="",
            show_default=False,
        )
        answers.github_users = [u.strip() for u in users.split(",") if u.strip()]
    if (
        not answers.github_users
        and not config.get("ssh_authorized_keys")
        and not k3os.get("password")
    ):
        password = click.prompt(
            "Please enter password for [rancher]", hide_input=True, confirmation_prompt=True
        )
        answers.password_hash = hash_password(password)
    if not k3os.get("wifi"):
        while click.confirm(
            "Configure WiFi?" if not answers.wifi else "Configure another WiFi network?",
            default=False,
        ):
            name = click.prompt("WiFi name")
            passphrase = click.prompt("WiFi passphrase", hide_input=True)
            answers.wifi.append((name, passphrase))
    if not k3os.get("server_url") and not k3os.get("token"):
        answers.role = click.prompt(
            "Run as server or agent?", type=click.Choice(["server", "agent"]), default="server"
        )
        if answers.role == "agent":
            answers.server_url = click.prompt("URL of server")
            answers.token = click.prompt("Token or cluster secret")
        else:
            token = click.prompt(
                "Token or cluster secret (optional)", default="", show_default=False
            )
            answers.token = token or None
    return answers


@click.command()
@click.option(
    "--device", type=click.Path(dir_okay=False, path_type=Path), help="Disk or image file."
)
@click.option("--config", "config_location", default=None, help="Node config file or URL.")
@click.option("--silent", is_flag=True, help="Ask nothing (needs --device).")
@click.option(
    "--image",
    "bundle_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_BUNDLE,
    show_default=True,
    help="System bundle to install.",
)
@click.option(
    "--pubkey",
    "pubkeys",
    multiple=True,
    type=click.Path(path_type=Path),
    default=[DEFAULT_KEYS],
    show_default=True,
    help="Trusted public key(s); also written to the state area.",
)
@click.option("--size", default=None, help="Create the image file with this size (e.g. 2G).")
@click.option("--efi-size", default=64, show_default=True, help="EFI partition size in MiB.")
@click.option("--cmdline", default="", help="Extra kernel command line for every boot entry.")
@click.option(
    "--grub-timeout",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Seconds the boot menu waits.",
)
@image_errors
def install(
    device: Path | None,
    config_location: str | None,
    silent: bool,
    bundle_path: Path,
    pubkeys: tuple[Path, ...],
    size: str | None,
    efi_size: int,
    cmdline: str,
    grub_timeout: int,
) -> None:
    """Partition a disk, write the system and the config, and set up the boot menu."""
    create_size = parse_size(size) if size else None
    if silent and device is None:
        raise click.UsageError("--silent needs --device")
    trusted = load_trusted(pubkeys)
    bundle: VerifiedBundle = verify_bundle(bundle_path, trusted)
    click.echo(f"verified {bundle_path}: version {bundle.manifest.version}")
    config: dict[str, Any] = load_config(config_location) if config_location else {}
    if not silent:
        if device is None:
            disks = list_disks()
            if disks:
                click.echo("Disks: " + ", ".join(disks))
            device = click.prompt(
                "Installation target (device or image file)",
                type=click.Path(dir_okay=False, path_type=Path),
                default=disks[0] if len(disks) == 1 else None,
            )
        if config_location is None:
            location = click.prompt(
                "Config system with cloud-init file? (path or URL, empty for none)",
                default="",
                show_default=False,
            )
            if location:
                config_location = location
                config = load_config(location)
        config = merge_answers(config, ask(config, config_location is not None))
        click.echo("\nInstall settings:")
        click.echo(f"  device: {device}\n  system: {bundle.manifest.version}")
        click.echo(
            "  config:\n"
            + "\n".join(f"    {line}" for line in dump_config(masked(config)).splitlines())
        )
        if not click.confirm("Continue?", default=False):
            click.echo("installation cancelled; nothing was written")
            raise SystemExit(1)
    assert device is not None
    pems = [public_pem(key) for key in trusted.values()]
    result = run_install(
        device,
        bundle,
        config,
        pems,
        efi_mib=efi_size,
        create_size=create_size,
        cmdline=cmdline,
        grub_timeout=grub_timeout,
        say=click.echo,
    )
    click.echo(f"done: {result.version} on {result.device}")
