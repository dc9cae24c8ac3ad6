"""`bench/inprocess.py --quick` runs and prints both cases, the inline one against the
transport measured in the same run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_inprocess_bench_quick() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "inprocess.py"), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = {row["case"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == {"transport/patch", "inline/patch"}
    assert rows["inline/patch"]["baseline"] == "transport/patch"
    assert all(row["value"] > 0 and len(row["rounds"]) == 3 for row in rows.values())
