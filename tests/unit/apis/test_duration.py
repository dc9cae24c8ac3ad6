"""Go-style duration strings, both ways."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from k3os.apis import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
        ("2us", timedelta(microseconds=2)),
        ("2µs", timedelta(microseconds=2)),
        (" 1h ", timedelta(hours=1)),
        ("1h1m1s", timedelta(hours=1, minutes=1, seconds=1)),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "10", "10 minutes", "1h 30m", "-5m", "1d", "m10"])
def test_parse_rejects_with_what_was_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration such as 30s"):
        parse_duration(text)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="got int"):
        parse_duration(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(seconds=1.5), "1s500ms"),
        (timedelta(microseconds=3), "3us"),
        (timedelta(days=2), "48h"),
    ],
)
def test_format(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


def test_format_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_round_trip(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


class _Holder(BaseModel):
    wait: Duration


def test_field_reads_strings_and_writes_strings() -> None:
    holder = _Holder.model_validate({"wait": "2m"})
    assert holder.wait == timedelta(minutes=2)
    assert holder.model_dump(mode="json") == {"wait": "2m"}
    assert _Holder(wait=timedelta(seconds=5)).wait == timedelta(seconds=5)


def test_field_refuses_bare_numbers() -> None:
    with pytest.raises(ValidationError, match="got the number 30"):
        _Holder.model_validate({"wait": 30})
