"""The node config schema: k3OS keys, tolerant spelling, coercions, precise errors."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

import k3os.config as cfg
from k3os.config import ConfigSchemaError, ConfigSyntaxError, NodeConfig
from k3os.config.load import layer_from_text

ROOT = Path(__file__).resolve().parents[2]


def load(text: str) -> NodeConfig:
    layer = layer_from_text(text, source="test", file="test.yaml")
    return cfg.validate(layer.data, layer)


def test_every_k3os_key() -> None:
    conf = load(
        """
ssh_authorized_keys: [ssh-ed25519 AAAA a, "github:alice", "gitlab:bob", https://x.test/k]
write_files:
- {path: /etc/a, content: aGk=, encoding: b64, owner: "root:root", permissions: "0600"}
hostname: edge-01
init_cmd: [echo i]
boot_cmd: [echo b]
run_cmd: [echo r]
k3os:
  data_sources: [cdrom, "openstack:http://127.0.0.1:1"]
  modules: [nvme]
  sysctl: {vm.max_map_count: "262144"}
  ntp_servers: [ntp.test]
  dns_nameservers: [1.1.1.1]
  wifi: [{name: home, passphrase: secret-pass}]
  password: pw
  server_url: https://10.0.0.2:6443
  token: K10x::node:y
  labels: {site: berlin}
  k3s_args: [agent, --node-name=x]
  environment: {https_proxy: "http://proxy:3128"}
  taints: ["dedicated=edge:NoSchedule"]
  install: {force_efi: true, device: /dev/vda, config_url: /x, silent: true, iso_url: http://i,
            power_off: true, no_format: true, debug: true, tty: ttyS0}
"""
    )
    assert conf.write_files[0].decoded() == b"hi"
    assert conf.write_files[0].mode == 0o600
    assert conf.k3os.install is not None and conf.k3os.install.force_efi is True
    assert conf.k3os.wifi[0].passphrase == "secret-pass"
    assert conf.run_cmd == ["echo r"]


@pytest.mark.parametrize(
    "text",
    [
        "sshAuthorizedKeys: [k]",
        "ssh_authorized_key: k",
        "SSH_AUTHORIZED_KEYS: k",
        "sshauthorizedkeys: [k]",
    ],
)
def test_tolerant_top_level_spelling(text: str) -> None:
    assert load(text).ssh_authorized_keys == ["k"]


def test_tolerant_k3os_spelling_and_coercions() -> None:
    conf = load(
        """
k3os:
  datasource: cdrom
  dnsNameserver: 1.1.1.1
  sysctls: {vm.swappiness: 10, net.ipv4.ip_forward: true}
  k3sArgs: server
  wifi: {ssid: net, pass: long-enough-secret}
  install: {silent: "true", forceEfi: "true", powerOff: "false"}
"""
    )
    k = conf.k3os
    assert k.data_sources == ["cdrom"]
    assert k.dns_nameservers == ["1.1.1.1"]
    assert k.sysctl == {"vm.swappiness": "10", "net.ipv4.ip_forward": "true"}
    assert k.k3s_args == ["server"]
    assert k.wifi[0].name == "net"
    assert k.install is not None and k.install.silent and k.install.force_efi
    assert not k.install.power_off


@pytest.mark.parametrize(
    ("encoding", "content"),
    [
        ("base64", base64.b64encode(b"data").decode()),
        ("gz+b64", base64.b64encode(gzip.compress(b"data")).decode()),
        ("gzip+base64", base64.b64encode(gzip.compress(b"data")).decode()),
        ("", "data"),
    ],
)
def test_write_files_encodings(encoding: str, content: str) -> None:
    conf = load(f"write_files: [{{path: /a, encoding: '{encoding}', content: '{content}'}}]")
    assert conf.write_files[0].decoded() == b"data"


def test_write_files_raw_gzip_and_octal_modes() -> None:
    raw = gzip.compress(b"zz").decode("latin-1")
    entry = cfg.WriteFile(path="/a", content=raw, encoding="gzip")
    assert entry.decoded() == b"zz"
    conf = load("write_files: [{path: /a, permissions: 0755}, {path: /b, permissions: 600}]")
    assert [f.permissions for f in conf.write_files] == ["0755", "0600"]


def test_network_users_and_defaults() -> None:
    conf = load(
        """
network:
  interfaces:
    eth0: {}
    eth1: {addresses: [10.0.0.5/24], dhcp: ipv6, routes: [{to: default, via: 10.0.0.1}]}
  vlans: {v10: {id: 10, link: eth0}}
  bonds: {bond0: {interfaces: [eth2, eth3], mode: 802.3ad}}
users: [{name: alice, groups: [wheel], password: "$6$x$y"}]
"""
    )
    assert conf.network is not None
    assert conf.network.interfaces["eth0"].dhcp_mode() == "yes"
    assert conf.network.interfaces["eth1"].dhcp_mode() == "ipv6"
    assert cfg.Interface(addresses=["10.0.0.1/8"]).dhcp_mode() == "no"
    assert conf.users[0].name == "alice"


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ("k3os:\n  modules: [a]\n  bogus: 1\n", "k3os.bogus", "unknown key; expected one of"),
        ("hostname: -bad-\n", "hostname", "expected a hostname"),
        ("k3os:\n  wifi: [{name: n, passphrase: short}]\n", "k3os.wifi[0].passphrase", "8 to 63"),
        ("write_files: [{path: rel}]\n", "write_files[0].path", "absolute path"),
        (
            "write_files: [{path: /a, encoding: b64, content: '!!'}]\n",
            "write_files[0]",
            "not valid b64",
        ),
        ("write_files: [{path: /a, permissions: 'rw'}]\n", "write_files[0].permissions", "octal"),
        ("k3os:\n  server_url: ftp://x\n", "k3os.server_url", "URL"),
        ("k3os:\n  taints: [bad]\n", "k3os.taints[0]", "KEY[=VALUE]:EFFECT"),
        ("k3os:\n  k3s_args: [--x]\n", "k3os.k3s_args", "'server' or 'agent'"),
        ("k3os:\n  data_sources: [gcp]\n", "k3os.data_sources[0]", "expected a data source"),
        ("k3os:\n  sysctl: {'a b': 1}\n", "k3os.sysctl", "sysctl name"),
        ("k3os:\n  environment: {'1X': a}\n", "k3os.environment", "variable name"),
        ("k3os: [a]\n", "k3os", "expected a mapping"),
        ("k3os:\n  labels: [a]\n", "k3os.labels", "expected a mapping"),
        ("hostname+: x\n", "hostname+", "appends to lists only"),
        ("hostname: a\nHostName: b\n", "hostname", "set twice"),
        (
            "network: {interfaces: {eth0: {addresses: [10.0.0.1]}}}\n",
            "network.interfaces.eth0.addresses[0]",
            "prefix length",
        ),
        (
            "network: {interfaces: {eth0: {gateway: x}}}\n",
            "network.interfaces.eth0.gateway",
            "IP address",
        ),
        (
            "network: {interfaces: {eth0: {routes: [{to: nope}]}}}\n",
            "network.interfaces.eth0.routes[0].to",
            "network",
        ),
        (
            "network: {interfaces: {eth0: {mac_address: zz}}}\n",
            "network.interfaces.eth0.mac_address",
            "MAC",
        ),
        (
            "network: {interfaces: {eth0: {mtu: 10}}}\n",
            "network.interfaces.eth0.mtu",
            "greater than",
        ),
        (
            "network: {interfaces: {a: {}}, vlans: {a: {id: 1, link: b}}}\n",
            "network",
            "defined twice",
        ),
        ("network: {interfaces: {waytoolonginterfacename: {}}}\n", "network", "15 characters"),
        ("users: [{name: root}]\n", "users[0].name", "built in"),
        ("users: [{name: Bad}]\n", "users[0].name", "user name"),
        ("users: [{name: a}, {name: a}]\n", "users", "user a is listed more than once"),
        ("write_files: [{path: /a}, {path: /a}]\n", "write_files", "/a is listed more than once"),
    ],
)
def test_schema_errors_name_path_and_expectation(text: str, path: str, expected: str) -> None:
    with pytest.raises(ConfigSchemaError) as info:
        load(text)
    message = str(info.value)
    assert message.startswith("test.yaml:"), message
    assert f" {path}: " in message, message
    assert expected in message, message


def test_schema_error_points_at_the_line() -> None:
    with pytest.raises(ConfigSchemaError) as info:
        load("hostname: ok\nk3os:\n  labels: {a: b}\n  wifi:\n  - name: n\n    passphrase: short\n")
    assert str(info.value).startswith("test.yaml:6:5: k3os.wifi[0].passphrase:")
    assert info.value.origin is not None and info.value.origin.line == 6


def test_many_errors_are_counted() -> None:
    with pytest.raises(ConfigSchemaError, match=r"and 1 more problem\)"):
        load("hostname: -x-\nwrite_files: [{path: rel}]\n")


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("a: [1, 2\n", "test.yaml:2:1", "expected ',' or ']'"),
        ("k3os:\n  modules: [a]\n bad: x\n", "test.yaml:3:2", ""),
        ("- a\n- b\n", "test.yaml:1:1", "expected a mapping"),
        ("a: 1\na: 2\n", "test.yaml:2:1", "duplicate key 'a'"),
        ("? [a]\n: 1\n", "test.yaml:1:3", "keys must be scalars"),
        ("a: &x {b: 1}\nc:\n  <<: *x\n", "test.yaml:3:3", "merge keys"),
        ("a: !!python/name:os.system x\n", "test.yaml:1:4", "constructor"),
        ("a: \x07\n", "test.yaml", "special characters"),
    ],
)
def test_yaml_errors_are_file_line_column(text: str, where: str, problem: str) -> None:
    with pytest.raises(ConfigSyntaxError) as info:
        load(text)
    assert str(info.value).startswith(where + ":"), str(info.value)
    assert problem in str(info.value)


def test_empty_document_is_empty_config() -> None:
    assert load("") == NodeConfig()
    assert load("# only a comment\n") == NodeConfig()


def test_json_schema_is_published_and_current() -> None:
    published = (ROOT / "docs" / "config-schema.json").read_text()
    assert published == cfg.json_schema_text(), (
        "regenerate: k3os config --schema > docs/config-schema.json"
    )
    schema = json.loads(published)
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"ssh_authorized_keys", "write_files", "network", "users", "k3os"} <= set(
        schema["properties"]
    )


def test_public_surface() -> None:
    assert sorted(cfg.__all__) == sorted(n for n in cfg.__all__ if hasattr(cfg, n))
    assert "load_config" in cfg.__all__ and "ConfigError" in cfg.__all__
