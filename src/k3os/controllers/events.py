"""Kubernetes Events for the fleet controllers: one call per step, on Plans, NodeConfigs
and Nodes, so `kubectl describe` and `kubectl get events` tell the rollout's story.

Recording never fails a reconcile: an Event that cannot be written is logged and dropped.
Repeats of the same (object, reason, message) within a short span bump the count of the
Event already written instead of adding another, as upstream's recorder does.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any, Literal

from k3os.client import ClientError, Kube
from k3os.client.resources import EVENTS

__all__ = ["EventRecorder", "EventType", "ObjectRef"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
EventType = Literal["Normal", "Warning"]
_AGGREGATE_SECONDS = 600.0
_RECENT_LIMIT = 4096


class ObjectRef:
    """What an Event is about: kind, apiVersion, name, namespace and uid of an object."""

    def __init__(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        self.kind = str(obj.get("kind") or "")
        self.api_version = str(obj.get("apiVersion") or "")
        self.name = str(meta.get("name") or "")
        self.namespace = str(meta.get("namespace") or "")
        self.uid = str(meta.get("uid") or "")

    def wire(self) -> Obj:
        ref: Obj = {"kind": self.kind, "apiVersion": self.api_version, "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.uid:
            ref["uid"] = self.uid
        return ref


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, kube: Kube, component: str) -> None:
        self.kube = kube
        self.component = component
        # (namespace, object uid/name, reason, message) -> (event name, count, when)
        self._recent: dict[tuple[str, str, str, str], tuple[str, int, dt.datetime]] = {}
        self.recorded = 0

    async def record(
        self, obj: Obj, reason: str, message: str, *, type: EventType = "Normal"
    ) -> None:
        ref = ObjectRef(obj)
        # Cluster-scoped objects (Nodes, NodeConfigs) get their Events in "default".
        namespace = ref.namespace or "default"
        key = (namespace, ref.uid or f"{ref.kind}/{ref.name}", reason, message)
        now = _now()
        seen = self._recent.get(key)
        try:
            if seen is not None and (now - seen[2]).total_seconds() < _AGGREGATE_SECONDS:
                name, count, _ = seen
                patch = {"count": count + 1, "lastTimestamp": _rfc3339(now)}
                await self.kube.patch(EVENTS, name, patch, namespace=namespace)
                self._recent[key] = (name, count + 1, now)
            else:
                name = f"{ref.name}.{secrets.token_hex(8)}"
                event: Obj = {
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": ref.wire(),
                    "reason": reason,
                    "message": message[:1024],
                    "type": type,
                    "source": {"component": self.component},
                    "reportingComponent": self.component,
                    "firstTimestamp": _rfc3339(now),
                    "lastTimestamp": _rfc3339(now),
                    "count": 1,
                }
                await self.kube.create(EVENTS, event, namespace)
                self._recent[key] = (name, 1, now)
            self.recorded += 1
        except ClientError as e:
            self._recent.pop(key, None)
            log.debug("event %s on %s/%s not recorded: %s", reason, ref.kind, ref.name, e)
        if len(self._recent) > _RECENT_LIMIT:
            cutoff = now - dt.timedelta(seconds=_AGGREGATE_SECONDS)
            kept = [(k, v) for k, v in self._recent.items() if v[2] >= cutoff]
            # All still recent (a big rollout): forget the oldest half, or this scan would
            # run on every record (they only lose their aggregation into one Event).
            self._recent = dict(kept[-(_RECENT_LIMIT // 2) :])
