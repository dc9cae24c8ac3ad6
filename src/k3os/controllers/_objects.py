"""Small helpers on object dicts shared by the controllers: metadata, timestamps, conditions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Generic, TypeVar

Obj = dict[str, Any]
T = TypeVar("T")


def meta(obj: Obj) -> Obj:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def is_deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def finalizers(obj: Obj) -> list[str]:
    return [str(f) for f in meta(obj).get("finalizers") or []]


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp (Time or MicroTime) as aware UTC, or None if absent/invalid."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: list[Obj], new: Obj, now: dt.datetime) -> list[Obj]:
    """`conditions` with `new` put in place of the one of its type; lastTransitionTime moves
    only when the status changes."""
    out = [c for c in conditions if c.get("type") != new["type"]]
    old = next((c for c in conditions if c.get("type") == new["type"]), None)
    cond = dict(new)
    if old is not None and old.get("status") == new.get("status"):
        cond.setdefault("lastTransitionTime", old.get("lastTransitionTime") or rfc3339(now))
    else:
        cond.setdefault("lastTransitionTime", rfc3339(now))
    return [*out, cond]


class ByVersion(Generic[T]):
    """What `build` made of an object, kept by name until its resourceVersion changes: for
    a controller that reads every node on every pass. An object without a resourceVersion
    is built afresh."""

    def __init__(self, build: Callable[[Obj], T]) -> None:
        self._build = build
        self._kept: dict[str, tuple[str, T]] = {}

    def get(self, obj: Obj) -> T:
        m = meta(obj)
        name, version = str(m.get("name") or ""), str(m.get("resourceVersion") or "")
        kept = self._kept.get(name)
        if kept is not None and version and kept[0] == version:
            return kept[1]
        built = self._build(obj)
        self._kept[name] = (version, built)
        return built

    def forget(self, name: str) -> None:
        self._kept.pop(name, None)
