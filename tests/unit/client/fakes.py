"""A scripted stand-in for `Kube` in unit tests: lists and watch streams come from a script,
leases live in a dict with resourceVersions and conflicts like the real API's."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

from k3os.client import ConflictError, NotFoundError, ObjectList, WatchEvent
from k3os.client.resources import ResourceType

Obj = dict[str, Any]


def cm(name: str, rv: str, ns: str = "default") -> Obj:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}}


class ScriptedKube:
    """`lists`: answers to successive list calls; `watches`: per watch call, a list of
    events or an exception to raise (after the events before it)."""

    def __init__(self, lists: list[ObjectList], watches: list[list[Any]]) -> None:
        self.lists = lists
        self.watches = watches
        self.watch_calls: list[str] = []
        self.streamed: list[bool] = []  # per watch call: did it ask for initial events
        self.exhausted = asyncio.Event()

    async def list(self, rt: ResourceType, namespace: str = "", **_: Any) -> ObjectList:
        return self.lists.pop(0)

    async def watch(
        self,
        rt: ResourceType,
        namespace: str = "",
        *,
        resource_version: str = "",
        send_initial_events: bool = False,
        **_: Any,
    ) -> AsyncIterator[WatchEvent]:
        self.watch_calls.append(resource_version)
        self.streamed.append(send_initial_events)
        if not self.watches:
            self.exhausted.set()
            await asyncio.Event().wait()
        for step in self.watches.pop(0):
            if isinstance(step, BaseException):
                raise step
            yield step


class LeaseStore:
    """Enough of the API for Leases: get, create, replace with optimistic concurrency."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Obj] = {}
        self.rv = 0
        self.fail_next = 0

    def _fail(self) -> None:
        if self.fail_next:
            self.fail_next -= 1
            from k3os.client import TransportError

            raise TransportError("connection refused")

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> Obj:
        self._fail()
        try:
            return copy.deepcopy(self.objects[(namespace, name)])
        except KeyError:
            raise NotFoundError(404, "NotFound", f'leases "{name}" not found', {}) from None

    async def create(self, rt: ResourceType, obj: Obj, namespace: str = "") -> Obj:
        self._fail()
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if key in self.objects:
            raise ConflictError(409, "AlreadyExists", "exists", {})
        self.rv += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[key] = stored
        return copy.deepcopy(stored)

    async def replace(self, rt: ResourceType, obj: Obj, *, subresource: str = "") -> Obj:
        self._fail()
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        current = self.objects[key]
        if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ConflictError(409, "Conflict", "stale", {})
        return await self._store(key, obj)

    async def _store(self, key: tuple[str, str], obj: Obj) -> Obj:
        self.rv += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[key] = stored
        return copy.deepcopy(stored)
