"""The image commands in-process: keygen/verify, status, upgrade, rollback, health, boot-select."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from k3os.cli import cli
from k3os.cli._image_common import resolve_root
from k3os.cli.install import parse_size
from k3os.image.state import StateArea
from tests.tooling.image_fixtures import KeyPair, bundle, keypair, new_state


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return keypair(tmp_path / "keys")


@pytest.fixture
def root(tmp_path: Path, keys: KeyPair) -> Path:
    new_state(tmp_path / "root", bundle(tmp_path, keys, "v1", seed=1), keys)
    return tmp_path / "root"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_keygen_and_verify(tmp_path: Path, keys: KeyPair) -> None:
    code, out = run("image", "keygen", "--out", str(tmp_path / "k"))
    assert code == 0, out
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    code, out = run("image", "keygen", "--out", str(tmp_path / "k"))
    assert code == 1 and "already exists" in out
    path = bundle(tmp_path, keys, "v9")
    code, out = run("image", "verify", "--pubkey", str(keys.pub), str(path))
    assert code == 0 and "OK" in out and "version v9" in out
    code, out = run("image", "verify", "--pubkey", str(tmp_path / "k.pub"), str(path))
    assert code == 1 and "not trusted" in out


def test_node_commands_refuse_the_real_root() -> None:
    for command in (
        ["status"],
        ["rollback"],
        ["upgrade", "--image", "x"],
        ["health"],
        ["boot-select"],
    ):
        code, out = run(*command)
        assert code == 2, (command, out)
        assert "refusing to touch this machine's real /" in out


def test_resolve_root(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("k3os.slot=current\n")
    assert resolve_root(None, cmdline) == Path("/")
    assert resolve_root(tmp_path, cmdline) == tmp_path
    with pytest.raises(click.UsageError):
        resolve_root(None, tmp_path / "missing", tmp_path / "missing")
    os_release = tmp_path / "os-release"
    os_release.write_text('NAME="k3os"\nID=k3os\n')
    assert resolve_root(None, tmp_path / "missing", os_release) == Path("/")
    os_release.write_text("ID=debian\n")
    with pytest.raises(click.UsageError):
        resolve_root(None, tmp_path / "missing", os_release)


def test_status_text_and_json(root: Path) -> None:
    code, out = run("status", "--root", str(root))
    assert code == 0, out
    assert "current:      v1" in out and "previous:     none" in out
    code, out = run("status", "--root", str(root), "--json")
    info = json.loads(out)
    assert info["current"]["version"] == "v1" and info["trial"] is None
    code, out = run("status", "--root", str(root / "nowhere"))
    assert code == 1 and "no k3os state area" in out


def test_upgrade_boot_health_rollback(tmp_path: Path, keys: KeyPair, root: Path) -> None:
    v2 = bundle(tmp_path, keys, "v2", seed=2)
    code, out = run("boot-select", "--root", str(root))
    assert code == 0 and out.startswith("v1 (normal)")
    code, out = run("upgrade", "--root", str(root), "--image", str(v2), "--no-reboot")
    assert code == 0, out
    assert "not rebooting" in out
    code, out = run("health", "--root", str(root))
    assert code == 1 and "not been booted yet" in out
    code, out = run("boot-select", "--root", str(root), "--json")
    assert code == 0 and json.loads(out)["version"] == "v2"
    code, out = run("health", "--root", str(root), "--timeout", "0")
    assert code == 0 and "committed" in out
    code, out = run("upgrade", "--root", str(root), "--image", str(v2), "--no-reboot")
    assert code == 1 and "--reinstall" in out
    code, out = run("rollback", "--root", str(root), "--no-reboot")
    assert code == 0 and "rolled back from v2 to v1" in out
    code, out = run("boot-select", "--root", str(root), "--slot", "recovery", "--dry-run")
    assert code == 0 and "v1 (recovery)" in out


def test_boot_select_exit_codes(tmp_path: Path, keys: KeyPair, root: Path) -> None:
    state = StateArea.for_root(root)
    run(
        "upgrade",
        "--root",
        str(root),
        "--image",
        str(bundle(tmp_path, keys, "v2", seed=2)),
        "--no-reboot",
    )
    assert run("boot-select", "--root", str(root))[0] == 0  # trial boot of v2
    code, out = run("boot-select", "--root", str(root))  # not confirmed: fall back, reboot
    assert code == 3 and "falling back to v1" in out
    for version in state.versions():
        (state.system / version / "vmlinuz").write_bytes(b"")
    code, out = run("boot-select", "--root", str(root))
    assert code == 4 and "none (recovery)" in out


def test_install_refuses_a_bad_bundle_before_touching_the_device(
    tmp_path: Path, keys: KeyPair
) -> None:
    other = keypair(tmp_path / "other")
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"precious" * 1000)
    path = bundle(tmp_path, other, "v1")
    code, out = run(
        "install",
        "--silent",
        "--device",
        str(disk),
        "--image",
        str(path),
        "--pubkey",
        str(keys.pub),
    )
    assert code == 1 and "not trusted" in out
    assert disk.read_bytes() == b"precious" * 1000
    code, out = run("install", "--silent", "--image", str(path), "--pubkey", str(keys.pub))
    assert code == 2 and "--silent needs --device" in out


def test_install_refuses_a_bad_config(tmp_path: Path, keys: KeyPair) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"precious")
    config = tmp_path / "config.yaml"
    config.write_text("hostname: a\nk3os:\n  - wrong\n")
    path = bundle(tmp_path, keys, "v1")
    code, out = run(
        "install",
        "--silent",
        "--device",
        str(disk),
        "--config",
        str(config),
        "--image",
        str(path),
        "--pubkey",
        str(keys.pub),
    )
    assert code == 1 and "field 'k3os': expected a mapping" in out
    assert disk.read_bytes() == b"precious"


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1 << 20), ("512M", 512 << 20), ("2G", 2 << 30), ("1GiB", 1 << 30)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_error() -> None:
    with pytest.raises(click.BadParameter):
        parse_size("lots")
