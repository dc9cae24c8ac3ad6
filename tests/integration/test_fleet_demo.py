"""`k3os demo` on a fresh temporary dir: server, nodes, NodeConfig and Plan, live view and
the summary; and `k3os status --fleet` against a real fleet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_rolls_out_a_release_then_a_bad_one_and_prints_a_summary(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "k3os",
            "demo",
            "--nodes",
            "3",
            "--work-dir",
            str(work),
            "--keep",
            "--bad-release",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "applied NodeConfig demo-site and Plan k3os-latest" in out
    assert "Nodes (3)" in out and "NodeConfigs" in out and "Plans" in out
    assert out.count("v1.1.0") >= 3 and "Complete" in out
    assert "applied Plan k3os-bad" in out and "Halted" in out
    # the fleet was stopped: no agent or server left behind
    left = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, text=True)
    assert left.stdout.strip() == ""
    status = subprocess.run(
        [sys.executable, "-m", "k3os", "status", "--fleet", "--kubeconfig", str(work / "nope")],
        capture_output=True,
        text=True,
    )
    assert status.returncode == 1 and "no such kubeconfig" in status.stderr


def test_demo_refuses_a_bad_node_count() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "k3os", "demo", "--nodes", "0"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "--nodes" in done.stderr
