"""Bundle files: build one from system parts, verify it, unpack it into a version directory.

A bundle is an uncompressed POSIX tar with exactly these members, in this order:
`manifest.json`, `manifest.sig`, `rootfs.squashfs`, `vmlinuz`, `initrd`. The order lets a
reader check the signature before it looks at a single byte of the parts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import platform
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from k3os._version import __version__
from k3os.image.errors import BundleError, ChecksumError, ImageError
from k3os.image.fsutil import crash_point, fsync_dir
from k3os.image.manifest import (
    MANIFEST,
    PART_NAMES,
    SIGNATURE,
    Manifest,
    Part,
    check_version,
    sign,
    verify_signature,
)

if TYPE_CHECKING:
    from k3os.image.keys import TrustedKeys

# Keys (cryptography) are imported where a bundle is signed or verified, not on import.

_CHUNK: Final = 1 << 20
MEMBERS: Final = (MANIFEST, SIGNATURE, *PART_NAMES)


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature and every part checksum have been checked."""

    path: Path
    manifest: Manifest
    manifest_bytes: bytes
    signature_bytes: bytes
    key_id: str


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def build_bundle(
    parts: Mapping[str, Path],
    *,
    version: str,
    key_path: Path,
    out: Path,
    arch: str | None = None,
    k3os_version: str = __version__,
) -> Manifest:
    """Write a signed bundle from ready-made parts (`rootfs.squashfs`, `vmlinuz`, `initrd`)."""
    check_version(version)
    if sorted(parts) != sorted(PART_NAMES):
        raise BundleError(f"parts: expected exactly {list(PART_NAMES)}, got {sorted(parts)}")
    for name, path in parts.items():
        if not path.is_file():
            raise BundleError(f"{path}: {name} is not a readable file")
    from k3os.image.keys import load_private_key

    private = load_private_key(key_path)
    described = []
    for name in PART_NAMES:
        size, digest = _hash_file(parts[name])
        described.append(Part(name=name, size=size, sha256=digest))
    manifest = Manifest(
        version=version,
        arch=arch or platform.machine(),
        k3os_version=k3os_version,
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        parts=tuple(described),
    )
    manifest_bytes = manifest.to_json()
    signature = sign(manifest_bytes, private)
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, MANIFEST, manifest_bytes)
        _add_bytes(tar, SIGNATURE, signature)
        for name in PART_NAMES:
            info = tarfile.TarInfo(name)
            info.size = parts[name].stat().st_size
            info.mode = 0o644
            with parts[name].open("rb") as f:
                tar.addfile(info, f)
    os.replace(tmp, out)
    return manifest


def build_from_rootfs(
    rootfs: Path,
    kernel: Path,
    initrd: Path,
    *,
    version: str,
    key_path: Path,
    out: Path,
    arch: str | None = None,
) -> Manifest:
    """Squash `rootfs` with mksquashfs, then build and sign the bundle."""
    check_version(version)
    if not rootfs.is_dir():
        raise BundleError(f"{rootfs}: --rootfs must be a directory")
    with tempfile.TemporaryDirectory(prefix="k3os-build-", dir=out.parent) as tmp:
        squash = Path(tmp) / "rootfs.squashfs"
        cmd = ["mksquashfs", str(rootfs), str(squash), "-noappend", "-quiet", "-no-progress"]
        cmd += ["-all-root", "-mkfs-time", "0", "-all-time", "0"]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except FileNotFoundError as e:
            raise ImageError("mksquashfs not found: install squashfs-tools") from e
        except subprocess.CalledProcessError as e:
            raise ImageError(f"mksquashfs failed on {rootfs}: {e.stderr.strip()}") from e
        parts = {"rootfs.squashfs": squash, "vmlinuz": kernel, "initrd": initrd}
        return build_bundle(parts, version=version, key_path=key_path, out=out, arch=arch)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:")
    except FileNotFoundError as e:
        raise BundleError(f"{path}: no such bundle file") from e
    except (tarfile.TarError, OSError) as e:
        raise BundleError(f"{path}: not a k3os bundle (not an uncompressed tar: {e})") from e


def _members(tar: tarfile.TarFile, path: Path) -> dict[str, tarfile.TarInfo]:
    try:
        members = tar.getmembers()
    except (tarfile.TarError, OSError) as e:
        raise BundleError(f"{path}: truncated or corrupt bundle ({e})") from e
    names = [m.name for m in members]
    if names != list(MEMBERS):
        raise BundleError(f"{path}: expected members {list(MEMBERS)} in that order, got {names}")
    for m in members:
        if not m.isfile():
            raise BundleError(f"{path}: member {m.name} is not a regular file")
    return {m.name: m for m in members}


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    f = tar.extractfile(member)
    assert f is not None  # regular files always have a reader
    return f


def verify_bundle(path: Path, trusted: TrustedKeys) -> VerifiedBundle:
    """Check the signature, then every part's size and sha256; write nothing."""
    with _open_tar(path) as tar:
        members = _members(tar, path)
        manifest_bytes = _read_member(tar, members[MANIFEST]).read()
        signature_bytes = _read_member(tar, members[SIGNATURE]).read()
        kid = verify_signature(manifest_bytes, signature_bytes, trusted, str(path))
        manifest = Manifest.parse(manifest_bytes, f"{path}: {MANIFEST}")
        for part in manifest.parts:
            member = members[part.name]
            if member.size != part.size:
                raise ChecksumError(
                    f"{path}: {part.name} is {member.size} bytes, the manifest says {part.size}"
                )
            digest = hashlib.sha256()
            try:
                reader = _read_member(tar, member)
                while chunk := reader.read(_CHUNK):
                    digest.update(chunk)
            except (tarfile.TarError, OSError) as e:
                raise BundleError(f"{path}: cannot read {part.name} ({e})") from e
            _check_digest(part, digest.hexdigest(), str(path))
    return VerifiedBundle(path, manifest, manifest_bytes, signature_bytes, kid)


def _check_digest(part: Part, actual: str, source: str) -> None:
    if actual != part.sha256:
        raise ChecksumError(
            f"{source}: {part.name} has sha256 {actual}, the manifest says {part.sha256}"
        )


def unpack(
    bundle: VerifiedBundle, dest: Path, progress: Callable[[str], None] | None = None
) -> None:
    """Write the parts, manifest and signature into the empty directory `dest`, durably.

    Each part is hashed again while it is written, so a bundle file changed after
    `verify_bundle` is caught here too.
    """
    with _open_tar(bundle.path) as tar:
        members = _members(tar, bundle.path)
        for index, part in enumerate(bundle.manifest.parts):
            if progress:
                progress(part.name)
            target = dest / part.name
            digest = hashlib.sha256()
            reader = _read_member(tar, members[part.name])
            with target.open("wb") as out:
                while chunk := reader.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            _check_digest(part, digest.hexdigest(), str(bundle.path))
            crash_point(f"stage-part-{index}")
    for name, data in ((MANIFEST, bundle.manifest_bytes), (SIGNATURE, bundle.signature_bytes)):
        with (dest / name).open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    fsync_dir(dest)


def verify_installed(directory: Path, trusted: TrustedKeys, *, full: bool = True) -> Manifest:
    """Check an unpacked version: signature, and every part's size (and sha256 if `full`)."""
    try:
        manifest_bytes = (directory / MANIFEST).read_bytes()
        signature_bytes = (directory / SIGNATURE).read_bytes()
    except OSError as e:
        raise BundleError(f"{directory}: incomplete version ({e.strerror}: {e.filename})") from e
    verify_signature(manifest_bytes, signature_bytes, trusted, str(directory))
    manifest = Manifest.parse(manifest_bytes, f"{directory / MANIFEST}")
    for part in manifest.parts:
        path = directory / part.name
        if not path.is_file():
            raise ChecksumError(f"{directory}: part {part.name} is missing")
        size = path.stat().st_size
        if size != part.size:
            raise ChecksumError(f"{path}: {size} bytes, the manifest says {part.size}")
        if full:
            _check_digest(part, _hash_file(path)[1], str(directory))
    return manifest
