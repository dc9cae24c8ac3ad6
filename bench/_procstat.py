"""Process figures from /proc for benchmarks: CPU time, RSS, and CPU use over a window."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of `pid` in MiB (`VmHWM` for the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class CpuWindow:
    """CPU use of some processes between `start()` and `stop()`, in % of one core."""

    def __init__(self, pids: Iterable[int]) -> None:
        self.pids = list(pids)
        self.begin: dict[int, float] = {}
        self.t0 = 0.0

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.begin = {pid: cpu_seconds(pid) for pid in self.pids}

    def stop(self) -> float:
        wall = time.monotonic() - self.t0
        used = sum(cpu_seconds(pid) - self.begin[pid] for pid in self.pids)
        return 100 * used / wall if wall > 0 else float("nan")


def find_pid(needle: str) -> int | None:
    """The process whose command line contains `needle` (a unique path), if any."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmdline:
            return int(entry.name)
    return None
