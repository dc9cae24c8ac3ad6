"""Compact JSON bytes for the API's hot paths: objects as stored, response bodies and
watch event lines.

orjson encodes a 4.6 KiB Node in ~2 µs where the standard library takes ~27 µs. Whatever
it would treat differently from `json` -- an integer beyond 64 bits, a key that is not a
string, a subclass of a JSON type, a dataclass or a datetime -- it refuses, and `json`
encodes it (or raises) as before. Its output is UTF-8 rather than ASCII escapes; both
decode to the same value.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_STRICT = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
_STRICT |= orjson.OPT_PASSTHROUGH_DATETIME


def compact(value: Any) -> bytes:
    """`value` as compact JSON (no spaces), UTF-8."""
    try:
        return orjson.dumps(value, option=_STRICT)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
