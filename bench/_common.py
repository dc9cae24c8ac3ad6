"""Shared helpers for benchmarks: one JSON line per figure, percentiles, timing loops.

Every figure names the baseline it should be read against, measured in the same run:
`emit("store", "sqlite/put/1", "rate", 812.0, "ops/s", baseline="raw-sqlite/put/1")`.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence


def emit(
    bench: str,
    case: str,
    metric: str,
    value: float,
    unit: str,
    baseline: str | None = None,
    **extra: object,
) -> dict[str, object]:
    """Print one figure as a JSON line and return it."""
    row: dict[str, object] = {
        "bench": bench,
        "case": case,
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": baseline,
    }
    row.update(extra)
    print(json.dumps(row), flush=True)
    return row


_STARTED = time.monotonic()


def progress(bench: str, message: str) -> None:
    """One line on stderr about a long benchmark's progress (stdout holds only figures)."""
    sys.stderr.write(f"{bench} +{time.monotonic() - _STARTED:.0f}s: {message}\n")
    sys.stderr.flush()


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; `pct` in 0..100."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI smoke runs")
    return parser.parse_args()


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "machine": platform.machine(), "argv": sys.argv}


def now() -> float:
    return time.perf_counter()
