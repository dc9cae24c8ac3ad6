"""Running a benchmark script the way CI smoke-tests it: `--quick`, its JSON lines parsed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def quick_rows(name: str) -> list[dict[str, Any]]:
    """The figures `bench/<name>.py --quick` prints (it must exit 0 within 5 minutes)."""
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / f"{name}.py"), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]
