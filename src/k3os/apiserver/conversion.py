"""Conversion between the two Event APIs, which share one storage (core/v1 form).

`events.k8s.io/v1` renames and reshapes core/v1 fields (`involvedObject` -> `regarding`,
`message` -> `note`, the old counters -> `deprecated*`); both views of an event stay in
step because only the core form is stored.
"""

from __future__ import annotations

from typing import Any

__all__ = ["core_event_to_events_v1", "events_v1_to_core_event"]

# (events.k8s.io/v1 field, core/v1 field)
_RENAMES = (
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
)
_SAME = ("metadata", "eventTime", "series", "reportingInstance", "action", "reason", "related",
         "type")  # fmt: skip


def core_event_to_events_v1(core: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "events.k8s.io/v1", "kind": "Event"}
    for key in _SAME:
        if key in core:
            out[key] = core[key]
    for new, old in _RENAMES:
        if core.get(old) not in (None, "", {}):
            out[new] = core[old]
    return out


def events_v1_to_core_event(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Event"}
    for key in _SAME:
        if key in event:
            out[key] = event[key]
    for new, old in _RENAMES:
        if event.get(new) not in (None, "", {}):
            out[old] = event[new]
    out.setdefault("involvedObject", {})
    return out
