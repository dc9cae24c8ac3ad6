"""Refuse a coverage floor lower than the one already committed: the floor only rises."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path


def floor_of(text: str) -> float:
    return float(tomllib.loads(text)["tool"]["coverage"]["report"]["fail_under"])


def committed(rev: str) -> str | None:
    out = subprocess.run(
        ["git", "show", f"{rev}:pyproject.toml"], capture_output=True, text=True, check=False
    )
    return out.stdout if out.returncode == 0 else None


def main() -> int:
    current = floor_of(Path("pyproject.toml").read_text())
    for rev in ("HEAD", "HEAD~1"):
        text = committed(rev)
        if text is None:
            continue
        before = floor_of(text)
        if current < before:
            print(f"coverage floor fell from {before} ({rev}) to {current}", file=sys.stderr)
            return 1
    print(f"coverage floor {current}%", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
