"""The README's run command starts a server on SQLite that `k3os kubectl` talks to."""

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


def test_scripts_run_serves_and_k3os_kubectl_works(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    env = dict(os.environ, K3OS_DATA_DIR=str(data))
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "run"), "--https-listen-port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        out = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            if (data / "kubeconfig.yaml").exists():
                out = subprocess.run(
                    [sys.executable, "-m", "k3os", "kubectl", "get", "namespaces", "-o", "name"],
                    env=dict(env, HOME=str(tmp_path)),
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
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log.close()
