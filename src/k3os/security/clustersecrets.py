"""The secrets every server of one cluster must hold alike — the CA's certificate and key and
the ServiceAccount signing key — sealed with the cluster token so they can rest in a datastore
that several servers share.

Sealing: a 256-bit key is derived from the token's secret with scrypt (a fresh random salt
each time), then AES-256-GCM encrypts the three files as JSON, with the datastore key as
associated data (a blob copied under another key does not open). Whoever lacks the token
learns nothing from the datastore but the blob's size.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from k3os.security.errors import PKIError, TokenError
from k3os.security.files import write_private, write_public

__all__ = [
    "BOOTSTRAP_PREFIX",
    "SHARED_FILES",
    "bootstrap_key",
    "read_shared",
    "seal",
    "unseal",
    "write_shared",
]

BOOTSTRAP_PREFIX = "/bootstrap/"
SHARED_FILES = ("ca.crt", "ca.key", "service-account.key")
_PUBLIC = ("ca.crt",)
_FORMAT = "k3os-sealed-v1"


def bootstrap_key(secret: str) -> str:
    """The datastore key of the secrets sealed with `secret`: a hash, never the secret."""
    return BOOTSTRAP_PREFIX + hashlib.sha256(secret.encode()).hexdigest()[:16]


def _derive(secret: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(secret.encode())


def seal(files: dict[str, bytes], secret: str, *, aad: str) -> bytes:
    """Encrypt `files` (name -> content) with a key derived from `secret`."""
    salt, nonce = os.urandom(16), os.urandom(12)
    plain = json.dumps({name: data.decode() for name, data in sorted(files.items())}).encode()
    sealed = AESGCM(_derive(secret, salt)).encrypt(nonce, plain, aad.encode())
    doc = {
        "format": _FORMAT,
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "sealed": base64.b64encode(sealed).decode(),
    }
    return json.dumps(doc).encode()


def unseal(blob: bytes, secret: str, *, aad: str) -> dict[str, bytes]:
    """The files sealed in `blob`; TokenError if `secret` does not open it."""
    try:
        doc = json.loads(blob)
        if doc.get("format") != _FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {_FORMAT!r}")
        salt = base64.b64decode(doc["salt"])
        nonce = base64.b64decode(doc["nonce"])
        sealed = base64.b64decode(doc["sealed"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise PKIError(f"{aad}: not a sealed cluster bootstrap record ({e})") from e
    try:
        plain = AESGCM(_derive(secret, salt)).decrypt(nonce, sealed, aad.encode())
    except InvalidTag as e:
        raise TokenError(f"{aad}: the token does not open the cluster's sealed secrets") from e
    files = {name: str(text).encode() for name, text in json.loads(plain).items()}
    missing = [name for name in SHARED_FILES if name not in files]
    if missing:
        raise PKIError(f"{aad}: sealed record lacks {', '.join(missing)}")
    return files


def read_shared(tls_dir: Path) -> dict[str, bytes] | None:
    """The shared files in a server's `server/tls`, or None unless all are there."""
    paths = [tls_dir / name for name in SHARED_FILES]
    if not all(path.exists() for path in paths):
        return None
    return {path.name: path.read_bytes() for path in paths}


def write_shared(tls_dir: Path, files: dict[str, bytes]) -> None:
    """Put the shared files in `tls_dir` (keys 0600, the CA certificate 0644)."""
    for name in SHARED_FILES:
        write = write_public if name in _PUBLIC else write_private
        write(tls_dir / name, files[name])
