from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from k3os.cli import cli
from k3os.cli import kubectl as kubectl_cmd


def test_kubeconfig_location() -> None:
    assert kubectl_cmd.kubeconfig_for({"KUBECONFIG": "/x"}) == "/x"
    assert kubectl_cmd.kubeconfig_for({"K3OS_DATA_DIR": "/d"}) == "/d/kubeconfig.yaml"
    assert kubectl_cmd.kubeconfig_for({}) == "/var/lib/k3os/kubeconfig.yaml"


def test_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["kubectl", "get", "nodes"], env={"K3OS_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 1
    assert "no kubeconfig" in result.output


def test_missing_kubectl_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubectl_cmd, "find_kubectl", lambda: None)
    result = CliRunner().invoke(cli, ["kubectl", "version"])
    assert result.exit_code == 1
    assert "kubectl not found" in result.output
