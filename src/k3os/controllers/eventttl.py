"""Event TTL: Events go away `ttl` seconds (1 hour by default) after they were last
recorded, as the API server's `--event-ttl` makes them in upstream Kubernetes.

An event's age is counted from the newest of its timestamps (series.lastObservedTime,
lastTimestamp, eventTime, creationTimestamp). Each event is queued to be looked at when
it is due, and deleted then unless it was recorded again meanwhile (a resourceVersion
precondition keeps a concurrent update from being lost).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from k3os.client import ConflictError, Controller, Informer, Kube, NotFoundError
from k3os.client.clock import Clock, SystemClock
from k3os.client.resources import EVENTS
from k3os.controllers._objects import meta, parse_time

__all__ = ["DEFAULT_EVENT_TTL", "EventTTLController", "last_recorded"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DEFAULT_EVENT_TTL = 3600.0
Key = tuple[str, str]


def last_recorded(event: Obj) -> dt.datetime | None:
    """When the event was last recorded: the newest timestamp it carries."""
    series = event.get("series") or {}
    stamps = [
        parse_time(series.get("lastObservedTime")),
        parse_time(event.get("lastTimestamp")),
        parse_time(event.get("eventTime")),
        parse_time(meta(event).get("creationTimestamp")),
    ]
    known = [s for s in stamps if s is not None]
    return max(known) if known else None


class EventTTLController:
    def __init__(
        self,
        kube: Kube,
        events: Informer,
        *,
        ttl: float = DEFAULT_EVENT_TTL,
        clock: Clock | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"event TTL must be positive, got {ttl}")
        self.kube = kube
        self.events = events
        self.ttl = ttl
        self.clock: Clock = clock or SystemClock()
        self.controller: Controller[Key] = Controller("event-ttl", self.reconcile)
        events.add_handler(self._on_change)

    def _remaining(self, event: Obj) -> float:
        recorded = last_recorded(event) or self.clock.now()
        return (recorded - self.clock.now()).total_seconds() + self.ttl

    def _on_change(self, change: str, obj: Obj, old: Obj | None) -> None:
        if change == "DELETED":
            return
        m = meta(obj)
        key = (str(m.get("namespace") or ""), str(m["name"]))
        self.controller.queue.add_after(key, self._remaining(obj))

    async def run(self) -> None:
        await self.controller.run()

    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        event = self.events.cache.get(name, namespace)
        if event is None:
            return None
        remaining = self._remaining(event)
        if remaining > 0:
            return remaining
        try:
            await self.kube.delete(
                EVENTS, name, namespace, resource_version=str(meta(event)["resourceVersion"])
            )
        except NotFoundError:
            return None
        except ConflictError:
            return 0.1  # recorded again: look at the new version
        log.debug("event %s/%s expired", namespace, name)
        return None
