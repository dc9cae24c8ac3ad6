"""Events the agent records about its Node and its RenderedNodeConfig (core/v1 Events).

Recording is best effort: an Event that cannot be written (the server is down) is logged
and dropped, never retried in a way that could hold up the work it describes.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from k3os.client import ClientError, Kube
from k3os.client.resources import EVENTS

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "k3os-agent"
EventType = Literal["Normal", "Warning"]


def event_object(
    involved: Obj, reason: str, message: str, type_: EventType, host: str, now: datetime
) -> Obj:
    meta = involved.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = str(meta.get("namespace") or "default")
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"name": f"{name}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", "v1"),
            "kind": involved.get("kind", "Node"),
            "name": name,
            "uid": meta.get("uid", ""),
            **({"namespace": meta["namespace"]} if meta.get("namespace") else {}),
        },
        "reason": reason,
        "message": message[:1024],
        "type": type_,
        "source": {"component": COMPONENT, "host": host},
        "reportingComponent": COMPONENT,
        "reportingInstance": host,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    def __init__(self, kube: Kube, host: str) -> None:
        self.kube = kube
        self.host = host

    async def record(
        self, involved: Obj, reason: str, message: str, type_: EventType = "Normal"
    ) -> None:
        obj = event_object(involved, reason, message, type_, self.host, datetime.now(UTC))
        try:
            await self.kube.create(EVENTS, obj, obj["metadata"]["namespace"])
        except ClientError as e:
            log.info("event %s not recorded: %s", reason, e)
