"""Durations as Kubernetes writes them (`90s`, `1h30m`, `500ms`), parsed to `timedelta`.

Plans carry Go `metav1.Duration` strings; we accept the same syntax and always print the
shortest canonical form back, so a round trip through the API does not change the text.
The parsing itself lives in `k3os.apis.durationtext` (no pydantic); this module makes it
the models' `Duration` field type.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from k3os.apis.durationtext import PATTERN, format_duration, parse_duration

__all__ = ["PATTERN", "Duration", "format_duration", "parse_duration"]


def _coerce(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"expected a duration string such as 30s or 10m, got the number {value}")
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN}),
]
"""A `timedelta` field written as a Go duration string on the wire."""
