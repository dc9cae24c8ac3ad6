"""`scripts/bench store --quick` runs and prints only well-formed figures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {"bench", "case", "metric", "value", "unit", "baseline"}


def test_bench_store_quick_prints_json_figures() -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "bench"), "store", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    for row in rows:
        assert row.keys() >= REQUIRED, row
        assert row["bench"] == "store"
        assert isinstance(row["value"], int | float)
    cases = {row["case"] for row in rows}
    for driver in ("sqlite", "etcd"):
        for case in ("put/1", "put/32", "get/1", "range/1000", "watch/10"):
            assert f"{driver}/{case}" in cases
    assert {"raw-sqlite/put/1", "raw-sqlite/put/1-sync-off", "sqlite/put/1-sync-off"} <= cases
    named = {row["baseline"] for row in rows} - {None}
    assert named <= cases, "every baseline names a figure of the same run"
    watch = next(row for row in rows if row["case"] == "sqlite/watch/10")
    assert watch["p99_ms"] >= watch["value"]
    goals = [row for row in rows if row["case"].startswith("goal/")]
    assert len(goals) == 8
    assert all(isinstance(row["met"], bool) for row in goals)
    overhead = next(row for row in goals if row["case"] == "goal/sqlite-put-1-overhead")
    assert overhead["unit"] == "us" and overhead["at_most"] is True
