"""`bench/rollout.py --quick` runs and prints only well-formed figures with real baselines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_rollout_bench_quick() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "rollout.py"), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    cases = {row["case"] for row in rows}
    assert {"selector/1000", "select-next-nodes/1000", "plan-hash", "render/20-configs"} <= cases
    assert {row["baseline"] for row in rows} - {None} <= cases
    assert all(row["bench"] == "rollout" and row["value"] > 0 for row in rows)
