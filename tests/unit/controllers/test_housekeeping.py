"""Pure parts of the housekeeping controllers: timestamps, conditions, settings checks."""

from __future__ import annotations

import datetime as dt

import pytest

from k3os.controllers._objects import finalizers, is_deleting, meta, parse_time, set_condition
from k3os.controllers.eventttl import EventTTLController, last_recorded
from k3os.controllers.manager import CONTROLLERS, ManagerSettings
from k3os.controllers.nodelifecycle import NodeLifecycleController

T0 = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01T12:00:00Z", T0),
        ("2026-05-01T12:00:00.250000Z", T0 + dt.timedelta(milliseconds=250)),
        ("2026-05-01T14:00:00+02:00", T0),
        ("2026-05-01T12:00:00", T0),
        ("", None),
        (None, None),
        (17, None),
        ("yesterday", None),
    ],
)
def test_parse_time(text: object, expected: dt.datetime | None) -> None:
    assert parse_time(text) == expected


def test_last_recorded_takes_the_newest_stamp() -> None:
    event = {
        "metadata": {"creationTimestamp": "2026-05-01T12:00:00Z"},
        "lastTimestamp": "2026-05-01T12:05:00Z",
        "eventTime": "2026-05-01T12:01:00.000000Z",
        "series": {"lastObservedTime": "2026-05-01T12:10:00.000000Z"},
    }
    assert last_recorded(event) == T0 + dt.timedelta(minutes=10)
    assert last_recorded({"metadata": {}}) is None


def test_set_condition_moves_transition_time_only_on_change() -> None:
    first = set_condition([], {"type": "Ready", "status": "True"}, T0)
    assert first == [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-05-01T12:00:00Z"}
    ]
    later = T0 + dt.timedelta(hours=1)
    same = set_condition(first, {"type": "Ready", "status": "True", "reason": "x"}, later)
    assert same[0]["lastTransitionTime"] == "2026-05-01T12:00:00Z"
    flipped = set_condition([*same, {"type": "Other"}], {"type": "Ready", "status": "False"}, later)
    assert [c["type"] for c in flipped] == ["Other", "Ready"]
    assert flipped[1]["lastTransitionTime"] == "2026-05-01T13:00:00Z"


def test_metadata_helpers() -> None:
    obj = {"metadata": {"deletionTimestamp": "x", "finalizers": ["a", "b"]}}
    assert is_deleting(obj) and finalizers(obj) == ["a", "b"]
    assert meta({"metadata": None}) == {} and not is_deleting({})


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown controllers bogus"):
        ManagerSettings(controllers=("namespace", "bogus"))
    assert ManagerSettings().controllers == CONTROLLERS
    with pytest.raises(ValueError, match="event TTL must be positive"):
        EventTTLController(None, _Informer(), ttl=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grace period must be positive"):
        NodeLifecycleController(None, None, grace_period=-1)  # type: ignore[arg-type]


class _Informer:
    def add_handler(self, handler: object) -> None:
        pass
