"""Small, real, signed system image bundles for simulated fleets, and node roots installed
from them.

A bundle holds a squashfs of a tiny root file system (made by mksquashfs), stand-in kernel
and initrd bytes, and an Ed25519 signature, exactly as `k3os image build` makes them. A
*broken* bundle carries `usr/lib/k3os/health-check` exiting 1, so a node that boots it
fails its health check and falls back to the previous version, as a bad release would.
`install_root` lays out a node's root the way the installer leaves a disk.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import yaml

from k3os.image import build_from_rootfs, verify_bundle
from k3os.image.install import populate_state
from k3os.image.keys import generate_keypair, load_trusted, public_pem
from k3os.image.state import StateArea

__all__ = ["HEALTH_SCRIPT", "SigningKey", "build_sim_bundle", "install_root", "signing_key"]

HEALTH_SCRIPT = "usr/lib/k3os/health-check"
LOCAL_CONFIG = "var/lib/rancher/k3os/config.yaml"


@dataclass(frozen=True)
class SigningKey:
    key: Path
    pub: Path


def signing_key(directory: Path) -> SigningKey:
    """A fresh Ed25519 signing key pair under `directory` (kept if already there)."""
    directory.mkdir(parents=True, exist_ok=True)
    key, pub = directory / "sim-signer.key", directory / "sim-signer.pub"
    if not (key.exists() and pub.exists()):
        key, pub = generate_keypair(directory / "sim-signer")
    return SigningKey(key, pub)


def build_sim_bundle(
    work: Path, signer: SigningKey, version: str, out_dir: Path, *, healthy: bool = True
) -> Path:
    """Build `out_dir/k3os-<version>.bundle`; a broken one fails its health check."""
    rootfs = work / f"rootfs-{version}"
    (rootfs / "etc").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/os-release").write_text(f'NAME="k3os"\nID=k3os\nVERSION="{version}"\n')
    (rootfs / "sbin").mkdir(exist_ok=True)
    (rootfs / "sbin/init").write_text("#!/bin/sh\nexec /bin/sh\n")
    if not healthy:
        script = rootfs / HEALTH_SCRIPT
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("#!/bin/sh\necho 'simulated fault: k3s does not start' >&2\nexit 1\n")
        script.chmod(0o755)
    kernel, initrd = work / f"vmlinuz-{version}", work / f"initrd-{version}"
    kernel.write_bytes(b"MZ" + version.encode() * 64)
    initrd.write_bytes(b"070701" + version.encode() * 64)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"k3os-{version}.bundle"
    build_from_rootfs(
        rootfs, kernel, initrd, version=version, key_path=signer.key, out=out,
        arch=platform.machine(),
    )  # fmt: skip
    return out


def install_root(
    root: Path, bundle: Path, signer: SigningKey, hostname: str, labels: dict[str, str]
) -> None:
    """Lay out `root` as an installed node running `bundle`, with a local config that names
    the host and the node's own labels."""
    trusted = load_trusted([signer.pub])
    verified = verify_bundle(bundle, trusted)
    state = StateArea.for_root(root)
    state.path.mkdir(parents=True, exist_ok=True)
    pems = [public_pem(k) for k in trusted.values()]
    populate_state(state.path, verified, f"hostname: {hostname}\n", pems, "")
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/hostname").write_text(hostname + "\n")
    local: dict[str, object] = {"hostname": hostname}
    if labels:
        local["k3os"] = {"labels": dict(labels)}
    config = root / LOCAL_CONFIG
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(local, sort_keys=True))
