"""Each realistic config in examples/ is applied to a fresh root, twice: the second time
changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from k3os import host
from k3os.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Node configs only: Kubernetes objects (NodeConfig, Plan) live in subdirectories or carry `kind:`.
NAMES = sorted(p.name for p in EXAMPLES.glob("*.yaml") if "\nkind:" not in "\n" + p.read_text())


def _fresh_root(tmp_path: Path, example: str) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\nwheel:x:10:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    system = root / "k3os/system/config.yaml"
    system.parent.mkdir(parents=True)
    system.write_text((EXAMPLES / example).read_text())
    return root


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def test_all_six_examples_exist() -> None:
    assert set(NAMES) >= {
        "agent.yaml",
        "proxy-environment.yaml",
        "server.yaml",
        "static-network.yaml",
        "sysctl-tuning.yaml",
        "wifi.yaml",
    }


@pytest.mark.parametrize("example", NAMES)
def test_example_applies_to_a_fresh_root(tmp_path: Path, example: str) -> None:
    root = _fresh_root(tmp_path, example)
    config, _ = load_config(root, "quiet console=ttyS0")
    for phase in ("initrd", "boot", "runtime"):
        plan = host.plan(config, root, phase, fetch=lambda url: "")
        report = host.apply(plan)
        # examples' commands cannot run in a root without a shell; everything else applies
        assert report.ok, report.lines()
    before = _tree(root)
    for phase in ("initrd", "boot", "runtime"):
        again = host.plan(config, root, phase, fetch=lambda url: "")
        assert again.changes == [], again.diff()
        assert host.apply(again).writes == 0
    assert _tree(root) == before
    if config.hostname:
        assert (root / "etc/hostname").read_text() == config.hostname + "\n"
    if config.k3os.sysctl:
        assert "vm.max_map_count = 262144" in (root / "etc/sysctl.d/90-k3os.conf").read_text()
    if config.k3os.environment:
        assert "https_proxy=" in (root / "etc/environment").read_text()
    if config.k3os.wifi:
        assert (root / "etc/wpa_supplicant/wpa_supplicant-wlan0.conf").exists()
    if config.network:
        assert (root / "etc/systemd/network/50-k3os-bond0.netdev").exists()
    if config.k3os.server_url or config.k3os.token:
        assert (root / "etc/k3os/agent.yaml").stat().st_mode & 0o777 == 0o600
