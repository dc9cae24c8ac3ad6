"""Maintenance windows: is a new node allowed to start now, and when may the next one.

A window is a daily span from startTime to endTime in its time zone, on the listed days.
A span that ends before it starts crosses midnight and belongs to the day it started on;
equal start and end mean 24 hours from the start (the whole day with the defaults,
00:00-00:00). Work already started may finish outside it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from k3os.apis.plan import TimeWindow, parse_clock


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must carry a time zone (use datetime.now(timezone.utc))")


def in_window(window: TimeWindow | None, now: datetime) -> bool:
    """True when `now` falls inside `window`; no window means always."""
    if window is None:
        return True
    _require_aware(now)
    local = now.astimezone(window.zone())
    start, end = parse_clock(window.start_time), parse_clock(window.end_time)
    days = window.weekdays()
    today, yesterday = local.weekday(), (local.weekday() - 1) % 7
    clock = local.time().replace(tzinfo=None)
    if start < end:
        return today in days and start <= clock < end
    return (today in days and clock >= start) or (yesterday in days and clock < end)


def next_window_start(window: TimeWindow | None, now: datetime) -> datetime:
    """The first instant at or after `now` inside the window (`now` itself if open)."""
    if window is None or in_window(window, now):
        return now
    zone = window.zone()
    local = now.astimezone(zone)
    start = parse_clock(window.start_time)
    days = window.weekdays()
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        candidate = datetime.combine(day, start, tzinfo=zone)
        if candidate > now:
            return candidate.astimezone(now.tzinfo)
    raise AssertionError("a window with at least one day opens within a week")  # pragma: no cover
