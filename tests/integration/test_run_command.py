"""The README's run command works, and so does a plain server with `k3os kubectl`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration._apiserver import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_scripts_run_plays_the_demo_to_the_end(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(ROOT / "scripts" / "run"), "--nodes", "2", "--work-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "done in" in out.stdout
    assert "2/2" in out.stdout


def test_server_on_sqlite_answers_k3os_kubectl(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = dict(os.environ, K3OS_DATA_DIR=str(data), HOME=str(tmp_path))
    cmd = [sys.executable, "-m", "k3os", "server", "--data-dir", str(data)]
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [*cmd, "--https-listen-port", str(free_port()), "--disable-agent"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        out = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            if (data / "kubeconfig.yaml").exists():
                out = subprocess.run(
                    [sys.executable, "-m", "k3os", "kubectl", "get", "namespaces", "-o", "name"],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                if out.returncode == 0:
                    break
            time.sleep(0.2)
        assert out is not None and out.returncode == 0, out and out.stderr
        assert "namespace/default" in out.stdout
        assert (data / "server" / "db" / "state.db").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
