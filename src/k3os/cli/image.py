"""`k3os image keygen|build|verify`: make signing keys, build signed bundles, check them."""

from __future__ import annotations

from pathlib import Path

import click

from k3os.cli._image_common import image_errors
from k3os.image.bundle import build_from_rootfs, verify_bundle
from k3os.image.keys import generate_keypair, load_trusted

_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


@click.group()
def image() -> None:
    """Signed system image bundles."""


@image.command()
@click.option("--out", "prefix", required=True, type=click.Path(path_type=Path), help="PREFIX")
@click.option("--force", is_flag=True, help="Replace existing key files.")
@image_errors
def keygen(prefix: Path, force: bool) -> None:
    """Write an ed25519 key pair: PREFIX.key (mode 0600) and PREFIX.pub."""
    key, pub = generate_keypair(prefix, force=force)
    click.echo(f"wrote {key} and {pub}")


@image.command()
@click.option(
    "--rootfs", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option("--kernel", required=True, type=_FILE)
@click.option("--initrd", required=True, type=_FILE)
@click.option("--version", "version", required=True, help="The system version, e.g. v1.2.0.")
@click.option("--key", required=True, type=_FILE, help="PREFIX.key to sign with.")
@click.option("--arch", default=None, help="Architecture (default: this machine's).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@image_errors
def build(
    rootfs: Path, kernel: Path, initrd: Path, version: str, key: Path, arch: str | None, out: Path
) -> None:
    """Squash a root file system and bundle it with a kernel and initramfs, signed."""
    manifest = build_from_rootfs(
        rootfs, kernel, initrd, version=version, key_path=key, out=out, arch=arch
    )
    click.echo(f"built {out}: version {manifest.version} ({manifest.arch})")


@image.command()
@click.option(
    "--pubkey",
    "pubkeys",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Trusted PREFIX.pub (or a directory of *.pub); repeatable.",
)
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@image_errors
def verify(pubkeys: tuple[Path, ...], bundle: Path) -> None:
    """Check a bundle's signature and every part's checksum."""
    verified = verify_bundle(bundle, load_trusted(pubkeys))
    m = verified.manifest
    click.echo(f"OK {bundle}: version {m.version} ({m.arch}), signed by key {verified.key_id}")
