"""Maintenance windows: days, spans across midnight, time zones, and when the next opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k3os.apis import TimeWindow
from k3os.controllers.decisions import in_window, next_window_start

MON = datetime(2026, 3, 2, tzinfo=UTC)  # Monday 00:00 UTC


def _w(**fields: Any) -> TimeWindow:
    return TimeWindow.model_validate(fields)


def at(days: float, hours: float = 0, minutes: float = 0) -> datetime:
    return MON + timedelta(days=days, hours=hours, minutes=minutes)


@pytest.mark.parametrize(
    ("window", "now", "inside"),
    [
        (None, at(0, 3), True),
        (_w(startTime="02:00", endTime="04:00"), at(0, 3), True),
        (_w(startTime="02:00", endTime="04:00"), at(0, 2), True),
        (_w(startTime="02:00", endTime="04:00"), at(0, 4), False),
        (_w(startTime="02:00", endTime="04:00"), at(0, 1, 59), False),
        (_w(days=["tue"], startTime="02:00", endTime="04:00"), at(0, 3), False),
        (_w(days=["mon"], startTime="02:00", endTime="04:00"), at(0, 3), True),
        # crossing midnight: belongs to the day it starts on
        (_w(days=["sun"], startTime="22:00", endTime="02:00"), at(0, 1), True),
        (_w(days=["sun"], startTime="22:00", endTime="02:00"), at(0, 23), False),
        (_w(days=["mon"], startTime="22:00", endTime="02:00"), at(0, 23), True),
        (_w(days=["mon"], startTime="22:00", endTime="02:00"), at(0, 1), False),
        (_w(days=["mon"], startTime="22:00", endTime="02:00"), at(1, 1, 30), True),
        # equal start and end: the whole day
        (_w(days=["mon"]), at(0, 23, 59), True),
        (_w(days=["mon"]), at(1, 0, 1), False),
        (_w(days=["mon"], startTime="22:00", endTime="22:00"), at(1, 21), True),
        (_w(days=["mon"], startTime="22:00", endTime="22:00"), at(0, 21), False),
        (_w(days=["mon"], startTime="22:00", endTime="22:00"), at(1, 22), False),
        # time zones: 02:00-04:00 in Berlin is 01:00-03:00 UTC in winter
        (_w(startTime="02:00", endTime="04:00", timeZone="Europe/Berlin"), at(0, 1, 30), True),
        (_w(startTime="02:00", endTime="04:00", timeZone="Europe/Berlin"), at(0, 3, 30), False),
        # `now` in another zone means the same instant
        (
            _w(startTime="02:00", endTime="04:00"),
            datetime(2026, 3, 2, 5, tzinfo=timezone(timedelta(hours=2))),
            True,
        ),
    ],
)
def test_in_window(window: TimeWindow | None, now: datetime, inside: bool) -> None:
    assert in_window(window, now) is inside


@pytest.mark.parametrize(
    ("window", "now", "opens"),
    [
        (None, at(0, 5), at(0, 5)),
        (_w(startTime="02:00", endTime="04:00"), at(0, 3), at(0, 3)),
        (_w(startTime="02:00", endTime="04:00"), at(0, 1), at(0, 2)),
        (_w(startTime="02:00", endTime="04:00"), at(0, 5), at(1, 2)),
        (_w(days=["sat", "sun"], startTime="02:00", endTime="04:00"), at(0, 5), at(5, 2)),
        (_w(days=["mon"], startTime="02:00", endTime="04:00"), at(0, 5), at(7, 2)),
        (_w(days=["wed"]), at(0, 5), at(2)),
        (_w(startTime="02:00", endTime="04:00", timeZone="Europe/Berlin"), at(0, 5), at(1, 1)),
    ],
)
def test_next_window_start(window: TimeWindow | None, now: datetime, opens: datetime) -> None:
    found = next_window_start(window, now)
    assert found == opens
    assert in_window(window, found)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        in_window(_w(), datetime(2026, 1, 1))


_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_CLOCKS = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)]


@settings(max_examples=40, deadline=None)
@given(
    days=st.lists(st.sampled_from(_DAYS), unique=True, max_size=3),
    start=st.sampled_from(_CLOCKS),
    end=st.sampled_from(_CLOCKS),
    zone=st.sampled_from(["UTC", "Asia/Tokyo", "Asia/Kolkata", "America/Caracas"]),
    minutes=st.integers(0, 7 * 24 * 60),
)
def test_next_window_start_is_the_first_open_moment(
    days: list[str], start: str, end: str, zone: str, minutes: int
) -> None:
    window = _w(days=days, startTime=start, endTime=end, timeZone=zone)
    now = MON + timedelta(minutes=minutes)
    opens = next_window_start(window, now)
    assert opens >= now
    assert in_window(window, opens)
    probe = now
    while probe < opens:  # closed all the way until it opens (30-minute grid)
        assert not in_window(window, probe)
        probe += timedelta(minutes=30)
