"""Small system bundles for the image tests: fake kernel/initrd bytes, a tiny root file system."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from k3os.image.bundle import build_bundle, verify_bundle
from k3os.image.install import populate_state
from k3os.image.keys import generate_keypair, load_trusted, public_pem
from k3os.image.state import StateArea


@dataclass(frozen=True)
class KeyPair:
    key: Path
    pub: Path


def keypair(directory: Path, name: str = "signer") -> KeyPair:
    directory.mkdir(parents=True, exist_ok=True)
    key, pub = generate_keypair(directory / name)
    return KeyPair(key, pub)


def fake_parts(directory: Path, seed: int, size: int = 20_000) -> dict[str, Path]:
    """Deterministic pseudo-random parts; the squashfs one starts with the squashfs magic."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    parts = {}
    for name, prefix in (("rootfs.squashfs", b"hsqs"), ("vmlinuz", b"MZ"), ("initrd", b"070701")):
        path = directory / name
        path.write_bytes(prefix + rng.randbytes(size))
        parts[name] = path
    return parts


def tiny_rootfs(directory: Path, version: str) -> Path:
    (directory / "etc").mkdir(parents=True, exist_ok=True)
    (directory / "etc/os-release").write_text(f'NAME="k3os"\nVERSION="{version}"\n')
    (directory / "sbin").mkdir(exist_ok=True)
    (directory / "sbin/init").write_text("#!/bin/sh\nexec /bin/sh\n")
    return directory


def bundle(work: Path, keys: KeyPair, version: str, seed: int = 0, size: int = 20_000) -> Path:
    out = work / f"{version}.bundle"
    parts = fake_parts(work / f"parts-{version}-{seed}", seed, size)
    build_bundle(parts, version=version, key_path=keys.key, out=out, arch="x86_64")
    return out


def new_state(root: Path, first_bundle: Path, keys: KeyPair) -> StateArea:
    """A state area under `root` as the installer leaves it, with one version."""
    trusted = load_trusted([keys.pub])
    verified = verify_bundle(first_bundle, trusted)
    state = StateArea.for_root(root)
    state.path.mkdir(parents=True, exist_ok=True)
    pems = [public_pem(k) for k in trusted.values()]
    populate_state(state.path, verified, "hostname: test\n", pems, "")
    return state
