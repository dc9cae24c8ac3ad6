"""Sources in k3OS's order: system, command line, local, data sources, config.d/*."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from k3os.config import (
    ConfigError,
    ConfigSchemaError,
    ConfigSyntaxError,
    DataSourceError,
    datasources,
    explain,
    load_config,
    load_layers,
    parse_config_file,
)


def put(root: Path, path: str, text: str | bytes) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)
    return target


@pytest.fixture
def root(tmp_path: Path) -> Path:
    put(
        tmp_path,
        "/k3os/system/config.yaml",
        "hostname: from-system\nk3os:\n  labels: {a: system}\n  modules: [m-system]\n",
    )
    put(
        tmp_path,
        "/var/lib/rancher/k3os/config.yaml",
        "k3os:\n  labels: {b: local}\n  modules+: [m-local]\n",
    )
    put(tmp_path, "/var/lib/rancher/k3os/config.d/20-b.yaml", "k3os:\n  labels: {a: d20}\n")
    put(tmp_path, "/var/lib/rancher/k3os/config.d/10-a.yaml", "k3os:\n  labels: {a: d10, c: d10}\n")
    put(tmp_path, "/var/lib/rancher/k3os/config.d/.hidden", "not: [yaml")
    return tmp_path


def test_order_later_wins(root: Path) -> None:
    conf, prov = load_config(
        root, "k3os.labels.a=cmdline hostname=from-cmdline k3os.modules+=m-cmd"
    )
    assert conf.hostname == "from-cmdline"
    assert conf.k3os.labels == {"a": "d20", "b": "local", "c": "d10"}
    assert conf.k3os.modules == ["m-system", "m-cmd", "m-local"]
    lines = explain(conf, prov)
    assert (
        f'k3os.labels.a = "d20"    # {root}/var/lib/rancher/k3os/config.d/20-b.yaml:2:12' in lines
    )
    assert 'hostname = "from-cmdline"    # kernel command line (hostname=from-cmdline)' in lines
    assert any(
        line.startswith('k3os.modules[2] = "m-local"    # ') and "config.yaml:3:14" in line
        for line in lines
    )


def test_proc_cmdline_is_read_when_not_given(root: Path) -> None:
    put(root, "/proc/cmdline", "quiet k3os.labels.z=proc\n")
    conf, _ = load_config(root)
    assert conf.k3os.labels["z"] == "proc"
    assert [layer.name for layer in load_layers(root)] == [
        "system config",
        "kernel command line",
        "local config",
        "config.d/10-a.yaml",
        "config.d/20-b.yaml",
    ]


def test_empty_root_is_empty_config(tmp_path: Path) -> None:
    conf, prov = load_config(tmp_path, "")
    assert conf.model_dump(exclude_unset=True) == {}
    assert prov == {}


def test_bad_file_names_its_position_and_changes_nothing(root: Path) -> None:
    put(root, "/var/lib/rancher/k3os/config.d/30-bad.yaml", "k3os:\n  labels: {a: b\n")
    with pytest.raises(ConfigSyntaxError, match=r"config\.d/30-bad\.yaml:3:1: "):
        load_config(root, "")
    put(root, "/var/lib/rancher/k3os/config.d/30-bad.yaml", "k3os:\n  modules:\n    - {a: b}\n")
    with pytest.raises(
        ConfigSchemaError,
        match=r"30-bad\.yaml:3:7: k3os\.modules\[0\]: Input should be a valid string",
    ):
        load_config(root, "")


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        parse_config_file(tmp_path / "missing.yaml")
    bad = put(tmp_path, "/bad.yaml", b"a: \xff\xfe\n")
    with pytest.raises(ConfigSyntaxError, match="not UTF-8"):
        parse_config_file(bad)


# -- data sources ----------------------------------------------------------------------


def test_nocloud_seed_directory(root: Path) -> None:
    put(root, "/var/lib/rancher/k3os/config.yaml", "k3os:\n  data_sources: [cdrom, nocloud]\n")
    put(
        root,
        "/var/lib/cloud/seed/nocloud/meta-data",
        "local-hostname: from-nocloud\npublic-keys: ssh-ed25519 K meta\n",
    )
    put(
        root,
        "/var/lib/cloud/seed/nocloud/user-data",
        "#cloud-config\nk3os:\n  labels: {a: userdata}\n",
    )
    conf, prov = load_config(root, "")
    assert conf.hostname == "from-nocloud"
    assert conf.ssh_authorized_keys == ["ssh-ed25519 K meta"]
    assert conf.k3os.labels["a"] == "d20"  # config.d still wins
    assert conf.k3os.labels["c"] == "d10"
    assert prov[("hostname",)].source == "datasource nocloud meta-data"


def test_cdrom_directory_and_script_userdata(tmp_path: Path) -> None:
    put(
        tmp_path,
        "/k3os/system/config.yaml",
        "k3os:\n  data_sources: ['cdrom:/media/cd', nocloud]\n",
    )
    put(tmp_path, "/media/cd/user-data", "#!/bin/sh\necho from-userdata\n")
    conf, _ = load_config(tmp_path, "")
    assert conf.run_cmd == [datasources.USERDATA_SCRIPT]
    assert conf.write_files[0].path == datasources.USERDATA_SCRIPT
    assert conf.write_files[0].permissions == "0700"


def test_bad_userdata_is_precise(tmp_path: Path) -> None:
    put(tmp_path, "/k3os/system/config.yaml", "k3os:\n  data_sources: [nocloud]\n")
    seed = "/var/lib/cloud/seed/nocloud"
    put(tmp_path, f"{seed}/user-data", "k3os:\n  bogus: 1\n")
    with pytest.raises(ConfigSchemaError, match=r"nocloud/user-data:2:3: k3os\.bogus: unknown key"):
        load_config(tmp_path, "")
    put(tmp_path, f"{seed}/user-data", b"\xff\xfe not text")
    with pytest.raises(DataSourceError, match="neither UTF-8 YAML nor a script"):
        load_config(tmp_path, "")
    put(tmp_path, f"{seed}/user-data", "hostname: -bad-\n")
    with pytest.raises(ConfigSchemaError, match="user-data:1:1: hostname"):
        load_config(tmp_path, "")


def test_absent_sources_are_skipped(tmp_path: Path) -> None:
    assert datasources.probe("nocloud", tmp_path) is None
    assert datasources.probe("cdrom", tmp_path) is None
    assert datasources.probe("cdrom:/nowhere", tmp_path) is None
    put(tmp_path, "/seed/unrelated", "x")
    assert datasources.probe("nocloud:/seed", tmp_path) is None
    put(tmp_path, "/seed/meta-data", "{}")
    assert datasources.probe("nocloud:/seed", tmp_path) == []
    put(tmp_path, "/dev/sr0", "not a block device")
    assert datasources.probe("cdrom", tmp_path) is None


class _Metadata(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def metadata() -> Iterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    routes: ClassVar[dict[str, tuple[int, bytes]]] = {}
    handler = type("Handler", (_Metadata,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_openstack_metadata_url(
    tmp_path: Path, metadata: tuple[str, dict[str, tuple[int, bytes]]]
) -> None:
    url, routes = metadata
    routes["/openstack/latest/meta_data.json"] = (
        200,
        json.dumps({"hostname": "os-node", "public_keys": {"k": "ssh-rsa OS key"}}).encode(),
    )
    routes["/openstack/latest/user_data"] = (200, b"k3os:\n  labels: {cloud: openstack}\n")
    put(
        tmp_path,
        "/k3os/system/config.yaml",
        f"k3os:\n  data_sources: ['ec2:http://127.0.0.1:9', 'openstack:{url}']\n",
    )
    conf, prov = load_config(tmp_path, "", timeout=1.0)
    assert conf.hostname == "os-node"
    assert conf.ssh_authorized_keys == ["ssh-rsa OS key"]
    assert conf.k3os.labels == {"cloud": "openstack"}
    assert str(prov[("k3os", "labels", "cloud")]) == f"{url}/openstack/latest/user_data:2:12"


def test_ec2_metadata_url(
    tmp_path: Path, metadata: tuple[str, dict[str, tuple[int, bytes]]]
) -> None:
    url, routes = metadata
    routes.update(
        {
            "/latest/meta-data/": (200, b"local-hostname\npublic-keys/\n"),
            "/latest/meta-data/local-hostname": (200, b"ec2-node\n"),
            "/latest/meta-data/public-keys/": (200, b"0=mykey\n"),
            "/latest/meta-data/public-keys/0/openssh-key": (200, b"ssh-ed25519 EC2 key\n"),
            "/latest/user-data": (200, b"#!/bin/sh\necho hi\n"),
        }
    )
    put(tmp_path, "/k3os/system/config.yaml", f"k3os:\n  data_sources: ['aws:{url}']\n")
    conf, _ = load_config(tmp_path, "")
    assert conf.hostname == "ec2-node"
    assert conf.ssh_authorized_keys == ["ssh-ed25519 EC2 key"]
    assert conf.run_cmd == [datasources.USERDATA_SCRIPT]


def test_metadata_errors_are_reported(
    tmp_path: Path, metadata: tuple[str, dict[str, tuple[int, bytes]]]
) -> None:
    url, routes = metadata
    put(tmp_path, "/k3os/system/config.yaml", f"k3os:\n  data_sources: ['openstack:{url}']\n")
    routes["/openstack/latest/meta_data.json"] = (500, b"boom")
    with pytest.raises(DataSourceError, match="HTTP 500"):
        load_config(tmp_path, "")
    routes["/openstack/latest/meta_data.json"] = (200, b"{not json")
    with pytest.raises(DataSourceError, match="not JSON"):
        load_config(tmp_path, "")
    routes["/openstack/latest/meta_data.json"] = (200, b"{}")
    conf, _ = load_config(tmp_path, "")  # found, but empty: nothing set, no error
    assert conf.hostname is None
