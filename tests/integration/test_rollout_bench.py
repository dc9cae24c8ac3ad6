"""`bench/rollout.py --quick` runs and prints only well-formed figures with real baselines."""

from __future__ import annotations

import pytest

from tests.integration._bench import quick_rows

pytestmark = pytest.mark.integration


def test_rollout_bench_quick() -> None:
    rows = quick_rows("rollout")
    cases = {row["case"] for row in rows}
    assert {"selector/1000", "select-next-nodes/1000", "plan-hash", "render/20-configs"} <= cases
    assert {row["baseline"] for row in rows} - {None} <= cases
    assert all(row["bench"] == "rollout" and row["value"] > 0 for row in rows)
