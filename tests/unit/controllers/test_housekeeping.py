"""Pure parts of the housekeeping controllers: timestamps, conditions, settings checks."""

from __future__ import annotations

import datetime as dt

import pytest

from k3os.controllers._objects import finalizers, is_deleting, meta, parse_time, set_condition
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
    assert "event-ttl" not in CONTROLLERS  # Events expire in the API server's store
    with pytest.raises(ValueError, match="grace period must be positive"):
        NodeLifecycleController(None, None, grace_period=-1)  # type: ignore[arg-type]
