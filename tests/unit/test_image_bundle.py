"""Bundles and keys: build, verify, and refusal of every kind of bad bundle."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path

import pytest

from k3os.image.bundle import MEMBERS, build_bundle, unpack, verify_bundle, verify_installed
from k3os.image.errors import (
    BundleError,
    ChecksumError,
    KeyFileError,
    SignatureError,
    UntrustedKeyError,
)
from k3os.image.keys import (
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    load_trusted,
)
from k3os.image.manifest import Manifest, check_version
from tests.tooling.image_fixtures import KeyPair, bundle, fake_parts, keypair


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return keypair(tmp_path / "keys")


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        out = {}
        for m in tar.getmembers():
            f = tar.extractfile(m)
            assert f is not None
            out[m.name] = f.read()
        return out


def write_tar(path: Path, files: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_keygen_modes_and_refusal(tmp_path: Path) -> None:
    key, pub = generate_keypair(tmp_path / "k")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    with pytest.raises(KeyFileError, match="already exists"):
        generate_keypair(tmp_path / "k")
    key2, _ = generate_keypair(tmp_path / "k", force=True)
    assert key_id(load_private_key(key2).public_key()) == key_id(load_public_key(pub))


def test_key_loading_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        load_public_key(tmp_path / "missing.pub")
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_public_key(junk)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM private key"):
        load_private_key(junk)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    priv = tmp_path / "ec.key"
    priv.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pub = tmp_path / "ec.pub"
    pub.write_bytes(
        other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(KeyFileError, match="expected an ed25519 private key"):
        load_private_key(priv)
    with pytest.raises(KeyFileError, match="expected an ed25519 public key"):
        load_public_key(pub)


def test_trusted_from_directory(tmp_path: Path) -> None:
    a, b = keypair(tmp_path / "d", "a"), keypair(tmp_path / "d", "b")
    trusted = load_trusted([tmp_path / "d"])
    assert len(trusted) == 2
    assert load_trusted([a.pub]).keys() <= trusted.keys()
    assert b.pub.exists()


def test_build_and_verify_round_trip(tmp_path: Path, keys: KeyPair) -> None:
    path = bundle(tmp_path, keys, "v1.2.0")
    with tarfile.open(path) as tar:
        assert [m.name for m in tar.getmembers()] == list(MEMBERS)
    verified = verify_bundle(path, load_trusted([keys.pub]))
    m = verified.manifest
    assert (m.version, m.arch) == ("v1.2.0", "x86_64")
    assert [p.name for p in m.parts] == ["rootfs.squashfs", "vmlinuz", "initrd"]
    assert m.part("vmlinuz").size == 20_002
    with pytest.raises(KeyError):
        m.part("nope")
    dest = tmp_path / "unpacked"
    dest.mkdir()
    seen: list[str] = []
    unpack(verified, dest, seen.append)
    assert seen == ["rootfs.squashfs", "vmlinuz", "initrd"]
    assert verify_installed(dest, load_trusted([keys.pub])) == m


def test_wrong_checksum_refused(tmp_path: Path, keys: KeyPair) -> None:
    files = members(bundle(tmp_path, keys, "v1"))
    kernel = bytearray(files["vmlinuz"])
    kernel[100] ^= 0xFF
    files["vmlinuz"] = bytes(kernel)
    bad = write_tar(tmp_path / "bad.bundle", list(files.items()))
    with pytest.raises(ChecksumError, match="vmlinuz has sha256"):
        verify_bundle(bad, load_trusted([keys.pub]))


def test_wrong_size_refused(tmp_path: Path, keys: KeyPair) -> None:
    files = members(bundle(tmp_path, keys, "v1"))
    files["initrd"] += b"x"
    bad = write_tar(tmp_path / "bad.bundle", list(files.items()))
    with pytest.raises(ChecksumError, match="initrd is 20007 bytes"):
        verify_bundle(bad, load_trusted([keys.pub]))


def test_bad_signature_refused(tmp_path: Path, keys: KeyPair) -> None:
    files = members(bundle(tmp_path, keys, "v1"))
    doc = json.loads(files["manifest.json"])
    doc["arch"] = "aarch64"
    files["manifest.json"] = json.dumps(doc).encode()
    bad = write_tar(tmp_path / "bad.bundle", list(files.items()))
    with pytest.raises(SignatureError, match="does not match the manifest"):
        verify_bundle(bad, load_trusted([keys.pub]))


def test_untrusted_key_refused(tmp_path: Path, keys: KeyPair) -> None:
    other = keypair(tmp_path / "other")
    path = bundle(tmp_path, keys, "v1")
    with pytest.raises(UntrustedKeyError, match="not trusted"):
        verify_bundle(path, load_trusted([other.pub]))
    with pytest.raises(UntrustedKeyError, match="trusted keys: none"):
        verify_bundle(path, {})


@pytest.mark.parametrize(
    ("signature", "match"),
    [
        (b"not json", "malformed"),
        (b'{"algorithm": "rsa", "key_id": "x", "signature": ""}', "unsupported algorithm"),
        (b'{"algorithm": "ed25519", "key_id": "x", "signature": "@@"}', "malformed"),
    ],
)
def test_malformed_signature(tmp_path: Path, keys: KeyPair, signature: bytes, match: str) -> None:
    files = members(bundle(tmp_path, keys, "v1"))
    files["manifest.sig"] = signature
    bad = write_tar(tmp_path / "bad.bundle", list(files.items()))
    with pytest.raises(SignatureError, match=match):
        verify_bundle(bad, load_trusted([keys.pub]))


def test_not_a_bundle(tmp_path: Path, keys: KeyPair) -> None:
    trusted = load_trusted([keys.pub])
    with pytest.raises(BundleError, match="no such bundle"):
        verify_bundle(tmp_path / "missing", trusted)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(BundleError, match=r"not a k3os bundle|truncated"):
        verify_bundle(junk, trusted)
    files = members(bundle(tmp_path, keys, "v1"))
    reordered = write_tar(tmp_path / "order", [(n, files[n]) for n in reversed(MEMBERS)])
    with pytest.raises(BundleError, match="in that order"):
        verify_bundle(reordered, trusted)


def test_truncated_bundle(tmp_path: Path, keys: KeyPair) -> None:
    path = bundle(tmp_path, keys, "v1")
    data = path.read_bytes()
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError):
        verify_bundle(cut, load_trusted([keys.pub]))


def test_directory_member_refused(tmp_path: Path, keys: KeyPair) -> None:
    files = members(bundle(tmp_path, keys, "v1"))
    path = tmp_path / "dir.bundle"
    with tarfile.open(path, "w") as tar:
        for name in MEMBERS:
            info = tarfile.TarInfo(name)
            if name == "initrd":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))
    with pytest.raises(BundleError, match="not a regular file"):
        verify_bundle(path, load_trusted([keys.pub]))


def test_build_input_errors(tmp_path: Path, keys: KeyPair) -> None:
    parts = fake_parts(tmp_path / "p", 1)
    with pytest.raises(BundleError, match="not a valid version"):
        build_bundle(parts, version="current", key_path=keys.key, out=tmp_path / "x")
    with pytest.raises(BundleError, match="expected exactly"):
        build_bundle(
            {"vmlinuz": parts["vmlinuz"]}, version="v1", key_path=keys.key, out=tmp_path / "x"
        )
    parts["initrd"] = tmp_path / "missing"
    with pytest.raises(BundleError, match="initrd is not a readable file"):
        build_bundle(parts, version="v1", key_path=keys.key, out=tmp_path / "x")


@pytest.mark.parametrize("version", ["", ".hidden", "a/b", "previous", "x" * 65, "v 1"])
def test_bad_versions(version: str) -> None:
    with pytest.raises(BundleError, match="not a valid version"):
        check_version(version)


GOOD = {
    "format": "k3os-bundle/1",
    "version": "v1",
    "arch": "x86_64",
    "k3os_version": "0.1.0",
    "created": "",
    "parts": {n: {"size": 1, "sha256": "0" * 64} for n in ("rootfs.squashfs", "vmlinuz", "initrd")},
}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"format": "other"}, "field 'format'"),
        ({"version": ""}, "field 'version'"),
        ({"arch": 5}, "field 'arch'"),
        ({"created": 5}, "field 'created'"),
        ({"parts": {"vmlinuz": {}}}, "field 'parts'"),
        ({"parts": {**GOOD["parts"], "initrd": []}}, r"parts\.initrd"),  # type: ignore[dict-item]
        (
            {"parts": {**GOOD["parts"], "initrd": {"size": -1, "sha256": "0" * 64}}},
            r"initrd'\.size",
        ),  # type: ignore[dict-item]
        ({"parts": {**GOOD["parts"], "initrd": {"size": 1, "sha256": "XYZ"}}}, r"initrd'\.sha256"),  # type: ignore[dict-item]
    ],
)
def test_manifest_field_errors(change: dict[str, object], match: str) -> None:
    doc = {**GOOD, **change}
    with pytest.raises(BundleError, match=match):
        Manifest.parse(json.dumps(doc).encode(), "m.json")


def test_manifest_not_json_or_object() -> None:
    with pytest.raises(BundleError, match="not valid JSON"):
        Manifest.parse(b"{", "m")
    with pytest.raises(BundleError, match="JSON object"):
        Manifest.parse(b"[]", "m")
    assert Manifest.parse(json.dumps(GOOD).encode(), "m").version == "v1"


def test_verify_installed_detects_damage(tmp_path: Path, keys: KeyPair) -> None:
    trusted = load_trusted([keys.pub])
    verified = verify_bundle(bundle(tmp_path, keys, "v1"), trusted)
    dest = tmp_path / "d"
    dest.mkdir()
    unpack(verified, dest)
    kernel = dest / "vmlinuz"
    data = bytearray(kernel.read_bytes())
    data[5] ^= 1
    kernel.write_bytes(bytes(data))
    assert verify_installed(dest, trusted, full=False).version == "v1"
    with pytest.raises(ChecksumError):
        verify_installed(dest, trusted)
    kernel.write_bytes(b"short")
    with pytest.raises(ChecksumError, match="bytes, the manifest says"):
        verify_installed(dest, trusted, full=False)
    kernel.unlink()
    with pytest.raises(ChecksumError, match="missing"):
        verify_installed(dest, trusted)
    (dest / "manifest.sig").unlink()
    with pytest.raises(BundleError, match="incomplete version"):
        verify_installed(dest, trusted)


def test_unpack_catches_a_bundle_changed_after_verify(tmp_path: Path, keys: KeyPair) -> None:
    trusted = load_trusted([keys.pub])
    path = bundle(tmp_path, keys, "v1")
    verified = verify_bundle(path, trusted)
    files = members(path)
    files["initrd"] = bytes(len(files["initrd"]))
    write_tar(path, [(n, files[n]) for n in MEMBERS])
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(ChecksumError):
        unpack(verified, dest)
