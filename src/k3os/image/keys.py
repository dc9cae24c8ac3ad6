"""ed25519 signing keys: generate a key pair, load private and public keys, name a key by id.

A key pair is two PEM files: `PREFIX.key` (PKCS#8, mode 0600) and `PREFIX.pub`
(SubjectPublicKeyInfo). A key's id is the first 16 hex digits of the sha256 of its raw
32-byte public key; signatures carry it so a verifier can say *which* key it does not trust.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from k3os.image.errors import KeyFileError

TrustedKeys = Mapping[str, Ed25519PublicKey]


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(prefix: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Write `PREFIX.key` (0600) and `PREFIX.pub`; refuse to overwrite unless `force`."""
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    if not force:
        for path in (key_path, pub_path):
            if path.exists():
                raise KeyFileError(f"{path}: already exists; pass --force to replace it")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pub = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        key_path.unlink(missing_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        pub_path.write_bytes(pub)
    except OSError as e:
        raise KeyFileError(f"{e.filename or prefix}: cannot write key: {e.strerror}") from e
    return key_path, pub_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise KeyFileError(f"{path}: not an unencrypted PEM private key ({e})") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: expected an ed25519 private key, got {type(key).__name__}")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    data = _read(path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KeyFileError(f"{path}: not a PEM public key ({e})") from e
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: expected an ed25519 public key, got {type(key).__name__}")
    return key


def load_trusted(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Public keys from files, or from every `*.pub` in a directory, keyed by key id."""
    trusted: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        files = sorted(path.glob("*.pub")) if path.is_dir() else [path]
        for file in files:
            public = load_public_key(file)
            trusted[key_id(public)] = public
    return trusted


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read key: {e.strerror}") from e
