"""The project's own tools work as the README says: kubectl install, `python -m k3os`, bench."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_kubectl_is_the_pinned_release(kubectl: Path) -> None:
    out = subprocess.run([str(kubectl), "version", "--client", "-o", "json"], capture_output=True)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)["clientVersion"]
    assert (info["major"], info["minor"]) == ("1", "36")
    assert kubectl.is_relative_to(Path(sys.prefix))


def test_module_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "k3os", "--log-format", "json", "version", "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["version"]


def test_bench_runner_rejects_unknown_name() -> None:
    out = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "no-such-bench"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "no benchmark named no-such-bench" in out.stderr


def test_coverage_floor_check_passes_on_this_tree() -> None:
    out = subprocess.run(
        [sys.executable, "scripts/check-coverage-floor.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
