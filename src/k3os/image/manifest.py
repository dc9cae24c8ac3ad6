"""The bundle manifest and its detached signature: what a system version is made of.

`manifest.json` names the version, architecture, the k3os version it carries and, for every
part, its size and sha256. `manifest.sig` is a small JSON document holding an ed25519
signature over the exact bytes of `manifest.json` and the id of the signing key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from k3os.image.errors import BundleError, SignatureError, UntrustedKeyError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from k3os.image.keys import TrustedKeys

# cryptography is imported by the functions that sign or verify: reading a manifest (boot
# selection, an agent at rest) needs none of it.

FORMAT: Final = "k3os-bundle/1"
MANIFEST: Final = "manifest.json"
SIGNATURE: Final = "manifest.sig"
PART_NAMES: Final = ("rootfs.squashfs", "vmlinuz", "initrd")
_VERSION_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")
RESERVED_NAMES: Final = frozenset({"current", "previous"})


def check_version(version: str, where: str = "version") -> str:
    """A version names a directory: letters, digits and `._+-`, not a pointer name."""
    if not _VERSION_RE.match(version) or version in RESERVED_NAMES:
        raise BundleError(
            f"{where}: {version!r} is not a valid version "
            "(expected 1-64 of A-Z a-z 0-9 . _ + -, starting with a letter or digit, "
            "and not 'current' or 'previous')"
        )
    return version


@dataclass(frozen=True)
class Part:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    version: str
    arch: str
    k3os_version: str
    created: str
    parts: tuple[Part, ...]

    def part(self, name: str) -> Part:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": self.version,
            "arch": self.arch,
            "k3os_version": self.k3os_version,
            "created": self.created,
            "parts": {p.name: {"size": p.size, "sha256": p.sha256} for p in self.parts},
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def parse(cls, data: bytes, source: str) -> Manifest:
        """Parse and check every field; errors name the source and the field."""
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BundleError(f"{source}: manifest is not valid JSON: {e}") from e
        if not isinstance(doc, dict):
            raise BundleError(f"{source}: manifest must be a JSON object")
        if doc.get("format") != FORMAT:
            raise BundleError(
                f"{source}: field 'format': expected {FORMAT!r}, got {doc.get('format')!r}"
            )
        strings = {k: _string(doc, k, source) for k in ("version", "arch", "k3os_version")}
        check_version(strings["version"], f"{source}: field 'version'")
        created = doc.get("created", "")
        if not isinstance(created, str):
            raise BundleError(f"{source}: field 'created': expected a string")
        raw_parts = doc.get("parts")
        if not isinstance(raw_parts, dict) or sorted(raw_parts) != sorted(PART_NAMES):
            got = sorted(raw_parts) if isinstance(raw_parts, dict) else raw_parts
            raise BundleError(
                f"{source}: field 'parts': expected exactly {list(PART_NAMES)}, got {got!r}"
            )
        parts = tuple(_part(name, raw_parts[name], source) for name in PART_NAMES)
        return cls(
            version=strings["version"],
            arch=strings["arch"],
            k3os_version=strings["k3os_version"],
            created=created,
            parts=parts,
        )


def _string(doc: dict[str, Any], field: str, source: str) -> str:
    value = doc.get(field)
    if not isinstance(value, str) or not value:
        raise BundleError(f"{source}: field {field!r}: expected a non-empty string")
    return value


def _part(name: str, raw: object, source: str) -> Part:
    where = f"{source}: field 'parts.{name}'"
    if not isinstance(raw, dict):
        raise BundleError(f"{where}: expected an object with size and sha256")
    size, digest = raw.get("size"), raw.get("sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BundleError(f"{where}.size: expected a non-negative integer, got {size!r}")
    if not isinstance(digest, str) or not _SHA256_RE.match(digest):
        raise BundleError(f"{where}.sha256: expected 64 lowercase hex digits, got {digest!r}")
    return Part(name=name, size=size, sha256=digest)


def sign(manifest_bytes: bytes, private: Ed25519PrivateKey) -> bytes:
    from k3os.image.keys import key_id

    doc = {
        "algorithm": "ed25519",
        "key_id": key_id(private.public_key()),
        "signature": base64.b64encode(private.sign(manifest_bytes)).decode(),
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def verify_signature(
    manifest_bytes: bytes, signature_bytes: bytes, trusted: TrustedKeys, source: str
) -> str:
    """Check the detached signature against the trusted keys; return the signing key id."""
    from cryptography.exceptions import InvalidSignature

    try:
        doc = json.loads(signature_bytes)
        algorithm, kid, sig_b64 = doc["algorithm"], doc["key_id"], doc["signature"]
        signature = base64.b64decode(sig_b64, validate=True)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, binascii.Error) as e:
        raise SignatureError(f"{source}: {SIGNATURE} is malformed ({e})") from e
    if algorithm != "ed25519":
        raise SignatureError(f"{source}: {SIGNATURE}: unsupported algorithm {algorithm!r}")
    public = trusted.get(kid) if isinstance(kid, str) else None
    if public is None:
        known = ", ".join(sorted(trusted)) or "none"
        raise UntrustedKeyError(
            f"{source}: signed by key {kid!r}, which is not trusted (trusted keys: {known})"
        )
    try:
        public.verify(signature, manifest_bytes)
    except InvalidSignature as e:
        raise SignatureError(
            f"{source}: the signature by key {kid} does not match the manifest"
        ) from e
    return str(kid)
