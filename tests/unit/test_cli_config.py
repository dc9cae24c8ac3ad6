"""`k3os config`: dump, explain, diff and apply through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from k3os.cli import cli


@pytest.fixture
def root(tmp_path: Path) -> Path:
    system = tmp_path / "k3os/system/config.yaml"
    system.parent.mkdir(parents=True)
    system.write_text("hostname: edge-01\nk3os:\n  labels: {site: berlin}\n  modules: [nvme]\n")
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["config", *args])
    return result.exit_code, result.output


def test_dump_and_dump_json(root: Path) -> None:
    code, out = run("--root", str(root), "--cmdline", "k3os.modules+=wireguard", "--dump")
    assert code == 0
    assert (
        out == "hostname: edge-01\nk3os:\n  modules:\n  - nvme\n  - wireguard\n"
        "  labels:\n    site: berlin\n"
    )
    code, out = run("--root", str(root), "--cmdline", "", "--dump-json")
    assert code == 0 and json.loads(out) == {
        "hostname": "edge-01",
        "k3os": {"modules": ["nvme"], "labels": {"site": "berlin"}},
    }


def test_explain(root: Path) -> None:
    code, out = run("--root", str(root), "--cmdline", "k3os.labels.site=lab", "--explain")
    assert code == 0
    assert f'hostname = "edge-01"    # {root}/k3os/system/config.yaml:1:1\n' in out
    assert 'k3os.labels.site = "lab"    # kernel command line (k3os.labels.site=lab)\n' in out


def test_diff_apply_and_apply_again(root: Path) -> None:
    code, out = run("--root", str(root), "--cmdline", "", "--phase", "boot", "--diff")
    assert code == 0 and "+++ b/etc/hostname\n@@ -0,0 +1 @@\n+edge-01\n" in out
    code, out = run("--root", str(root), "--cmdline", "", "--phase", "boot", "--apply")
    assert code == 0 and "applied: write /etc/hostname" in out
    assert (root / "etc/modules-load.d/k3os.conf").read_text().endswith("nvme\n")
    code, out = run("--root", str(root), "--cmdline", "", "--phase", "boot", "--apply")
    assert (code, out) == (0, "nothing to change\n")
    code, out = run("--root", str(root), "--cmdline", "", "--diff")
    assert (code, out) == (0, "# nothing to change\n")


def test_failures_exit_nonzero_with_one_line(root: Path) -> None:
    (root / "k3os/system/config.yaml").write_text("hostname: [oops\n")
    code, out = run("--root", str(root), "--cmdline", "", "--dump")
    assert code == 1 and f"Error: {root}/k3os/system/config.yaml:2:1: " in out
    code, out = run("--root", str(root), "--cmdline", "", "--apply")
    assert code == 1 and sorted(p.name for p in root.iterdir()) == ["k3os"]  # nothing changed
    (root / "k3os/system/config.yaml").write_text("run_cmd: ['exit 3']\n")
    (root / "bin").mkdir()
    (root / "bin/sh").write_text("")
    code, out = run("--root", str(root), "--cmdline", "hostname=x", "--apply")
    assert code == 1 and "command run_cmd[0]: failed with exit code" in out
    code, out = run("--root", str(root / "missing"), "--cmdline", "", "--apply")
    assert code == 1 and "not a directory" in out


def test_apply_refuses_the_real_root_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("k3os.host.rootfs.booted_k3os", lambda: False)
    code, out = run("--cmdline", "", "--apply")
    assert code == 1 and "refusing to change this host's /" in out


def test_usage_and_schema() -> None:
    code, out = run()
    assert code == 2 and "choose one of" in out
    code, out = run("--schema")
    assert code == 0 and json.loads(out)["title"] == "NodeConfig"
