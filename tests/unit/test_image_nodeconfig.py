"""The installer's view of the node config: YAML shape errors, answers folded in."""

from __future__ import annotations

from pathlib import Path

import pytest

from k3os.image.errors import ConfigFileError
from k3os.image.grub import efi_grub_cfg, state_grub_cfg
from k3os.image.nodeconfig import (
    InstallAnswers,
    dump_config,
    load_config,
    merge_answers,
    parse_config,
    without_install_section,
)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a: [1, 2\n", r"c\.yaml:2:1: not valid YAML"),
        ("- a\n- b\n", "expected a mapping at the top, got list"),
        ("ssh_authorized_keys: key\n", "field 'ssh_authorized_keys': expected a list"),
        ("k3os: 3\n", "field 'k3os': expected a mapping"),
        ("k3os:\n  wifi: x\n", "field 'k3os.wifi': expected a list"),
        # the config engine's full schema, with the position of the bad value
        ("hostname: a\nbogus: 1\n", r"c\.yaml:2:1: bogus: unknown key"),
        ("k3os:\n  sysctl:\n    vm.swappiness: [1]\n", r"c\.yaml:3:\d+: .*sysctl"),
    ],
)
def test_parse_errors(text: str, match: str) -> None:
    with pytest.raises(ConfigFileError, match=match):
        parse_config(text, "c.yaml")


def test_parse_ok_and_empty() -> None:
    assert parse_config("", "c") == {}
    assert parse_config("hostname: a\nk3os:\n  token: t\n", "c")["k3os"] == {"token": "t"}


def test_load_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read config"):
        load_config(str(tmp_path / "missing.yaml"))
    path = tmp_path / "c.yaml"
    path.write_text("hostname: box\n")
    assert load_config(str(path)) == {"hostname": "box"}
    with pytest.raises(ConfigFileError, match="cannot fetch config"):
        load_config("http://127.0.0.1:9/none.yaml", timeout=2)


def test_merge_answers() -> None:
    config = {
        "ssh_authorized_keys": ["github:alice"],
        "k3os": {"wifi": [{"name": "a", "passphrase": "b"}]},
    }
    answers = InstallAnswers(
        github_users=["alice", "bob"],
        password_hash="$6$x",
        wifi=[("home", "secret")],
        role="agent",
        server_url="https://10.0.0.1:6443",
        token="K10abc",
    )
    merged = merge_answers(config, answers)
    assert merged["ssh_authorized_keys"] == ["github:alice", "github:bob"]
    assert merged["k3os"] == {
        "wifi": [{"name": "a", "passphrase": "b"}, {"name": "home", "passphrase": "secret"}],
        "password": "$6$x",
        "server_url": "https://10.0.0.1:6443",
        "token": "K10abc",
    }
    assert config["k3os"]["wifi"] == [{"name": "a", "passphrase": "b"}]
    assert merge_answers({}, InstallAnswers()) == {}
    assert "server_url" not in merge_answers({}, InstallAnswers(role="server", token="t"))["k3os"]
    assert dump_config({"b": 1, "a": 2}) == "b: 1\na: 2\n"


def test_grub_config() -> None:
    cfg = state_grub_cfg("console=ttyS0")
    for slot in ("current", "previous", "recovery"):
        assert f"--id {slot}" in cfg
    assert (
        "linux /system/previous/vmlinuz root=LABEL=K3OS_STATE k3os.slot=previous console=ttyS0"
        in cfg
    )
    assert "k3os.slot=recovery console=ttyS0 k3os.mode=recovery" in cfg
    assert "configfile ($root)/boot/grub/grub.cfg" in efi_grub_cfg()


def test_no_efi_binary_where_the_host_cannot_build_one(tmp_path: Path) -> None:
    from k3os.image.grub import make_efi_binary

    assert make_efi_binary("riscv64", tmp_path) is None  # no target for this architecture
    assert make_efi_binary("x86_64", tmp_path, grub_lib=tmp_path / "no-grub") is None


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"hostname": "a"}, {"hostname": "a"}),
        ({"k3os": {"install": {"silent": True}}}, {}),
        (
            {"k3os": {"token": "t", "install": {}}, "hostname": "a"},
            {"k3os": {"token": "t"}, "hostname": "a"},
        ),
    ],
)
def test_install_section_is_not_installed(
    config: dict[str, object], expected: dict[str, object]
) -> None:
    assert without_install_section(config) == expected
