"""Go duration strings (`90s`, `1h30m`, `500ms`) to `timedelta` and back, without pydantic:
the parsing a command line needs (`k3os agent --lease-renew-interval 10s`).
`k3os.apis.duration` builds the models' `Duration` field type on these.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["PATTERN", "format_duration", "parse_duration"]

_UNITS = {
    "ns": timedelta(microseconds=0.001),
    "us": timedelta(microseconds=1),
    "µs": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
PATTERN = r"^(0|([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)$"


def parse_duration(text: str) -> timedelta:
    """`"1h30m"` -> 90 minutes. Raises ValueError naming what was expected."""
    expected = "a duration such as 30s, 10m or 1h30m"
    if not isinstance(text, str):
        raise ValueError(f"expected {expected}, got {type(text).__name__}")
    value = text.strip()
    if value == "0":
        return timedelta(0)
    pos = 0
    total = timedelta(0)
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(value):
        raise ValueError(f"expected {expected}, got {text!r}")
    return total


def format_duration(value: timedelta) -> str:
    """90 minutes -> `"1h30m"`; zero -> `"0s"`; sub-second parts as `ms`."""
    if value < timedelta(0):
        raise ValueError(f"negative duration {value}")
    micros = value // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    out = ""
    hours, micros = divmod(micros, 3_600_000_000)
    minutes, micros = divmod(micros, 60_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if seconds:
        out += f"{seconds}s"
    if micros:
        out += f"{micros // 1000}ms" if micros % 1000 == 0 else f"{micros}us"
    return out
