"""`bench/inprocess.py --quick` runs and prints its cases, each inline one against the
transport measured in the same run: per request and per watch event."""

from __future__ import annotations

import pytest

from tests.integration._bench import quick_rows

pytestmark = pytest.mark.integration


def test_inprocess_bench_quick() -> None:
    rows = {row["case"]: row for row in quick_rows("inprocess")}
    assert set(rows) == {"transport/patch", "inline/patch", "transport/watch", "inline/watch"}
    assert rows["inline/patch"]["baseline"] == "transport/patch"
    assert rows["inline/watch"]["baseline"] == "transport/watch"
    assert all(row["value"] > 0 and len(row["rounds"]) == 3 for row in rows.values())
