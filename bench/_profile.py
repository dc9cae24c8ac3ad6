"""py-spy for the benchmarks: `profiled` records a process while a block runs, and the
command summarises raw (collapsed) stacks: the functions with the most samples, on their
own (self) and with what they call (inclusive).

    python bench/_profile.py server-sqlite.raw [--top 25] [--grep k3os]
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PY_SPY = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"


@contextmanager
def profiled(pid: int, out: Path | None, rate: int = 50) -> Iterator[None]:
    """py-spy `pid` at `rate` Hz while the block runs (raw collapsed stacks in `out`);
    nothing when `out` is None."""
    if out is None:
        yield
        return
    cmd = [str(PY_SPY), "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
           "--rate", str(rate), "--nonblocking", "--subprocesses"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        proc.wait(60)


def summarise(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    return total, own, inclusive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("raw", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--grep", default="k3os", help="inclusive list: frames containing this")
    args = parser.parse_args()
    total, own, inclusive = summarise(args.raw)
    print(f"{total} samples\n-- self")
    for frame, n in own.most_common(args.top):
        print(f"{100 * n / total:5.1f}% {frame}")
    print(f"-- inclusive ({args.grep})")
    shown = [(f, n) for f, n in inclusive.most_common() if args.grep in f]
    for frame, n in shown[: args.top]:
        print(f"{100 * n / total:5.1f}% {frame}")


if __name__ == "__main__":
    main()
