"""In-memory mirrors of one resource type, kept current by watching the store.

The authorizers need the RBAC objects and the pods on every request; reading them from
the store each time would cost a range read per request. A `StoreMirror` lists its type
once, then applies the watch's events; after a compaction or a lost backend it lists
again. `synced` is set once the first list is in, so the server can wait before it says
it is ready. Callbacks (`on_set`, `on_delete`) let other indexes (the Node authorizer's
pod graph) follow the same stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from k3os.apiserver.errors import APIError
from k3os.apiserver.registry import ResourceType
from k3os.apiserver.storage import ObjectStore
from k3os.store import Compacted, EventType, FutureRevision, StoreClosed, StoreUnavailable

__all__ = ["StoreMirror"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
SetCallback = Callable[[Obj], None]
DeleteCallback = Callable[[str, str], None]
RETRY_DELAY = 1.0  # seconds before relisting after the watch broke


class StoreMirror:
    """Objects of `rt`, by namespace and name, as the store has them (moments ago)."""

    def __init__(
        self,
        objects: ObjectStore,
        rt: ResourceType,
        *,
        on_set: SetCallback | None = None,
        on_delete: DeleteCallback | None = None,
    ) -> None:
        self._objects = objects
        self.rt = rt
        self._on_set = on_set
        self._on_delete = on_delete
        self._by_ns: dict[str, dict[str, Obj]] = {}
        self.synced = asyncio.Event()
        self.revision = 0

    # --- reads ----------------------------------------------------------------------

    def all(self) -> Iterable[Obj]:
        for items in list(self._by_ns.values()):
            yield from list(items.values())

    def in_namespace(self, namespace: str) -> Iterable[Obj]:
        return list(self._by_ns.get(namespace, {}).values())

    def get(self, namespace: str, name: str) -> Obj | None:
        return self._by_ns.get(namespace, {}).get(name)

    # --- updates --------------------------------------------------------------------

    def put(self, obj: Obj) -> None:
        meta: Mapping[str, Any] = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        self._by_ns.setdefault(namespace, {})[name] = obj
        if self._on_set is not None:
            self._on_set(obj)

    def remove(self, namespace: str, name: str) -> None:
        items = self._by_ns.get(namespace)
        if items is not None and items.pop(name, None) is not None and not items:
            del self._by_ns[namespace]
        if self._on_delete is not None:
            self._on_delete(namespace, name)

    def _replace(self, objs: list[Obj]) -> None:
        stale = {(ns, name) for ns, items in self._by_ns.items() for name in items}
        for obj in objs:
            meta = obj.get("metadata") or {}
            stale.discard((str(meta.get("namespace", "")), str(meta.get("name", ""))))
            self.put(obj)
        for namespace, name in stale:
            self.remove(namespace, name)

    def _key_of(self, key: str) -> Key:
        rest = key[len(self.rt.prefix()) :]
        namespace, _, name = rest.rpartition("/")
        return namespace, name

    # --- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        """List, then follow the watch; relist after any break. Ends when the store closes
        or the task is cancelled."""
        while True:
            try:
                await self._list_and_watch()
            except StoreClosed:
                return
            except (Compacted, FutureRevision, StoreUnavailable, APIError) as e:
                log.info("relisting %s after the watch broke: %s", self.rt.plural, e)
            await asyncio.sleep(RETRY_DELAY)

    async def _list_and_watch(self) -> None:
        page = await self._objects.list(self.rt, "")
        self._replace(page.items)
        self.revision = page.revision
        self.synced.set()
        watch = await self._objects.store.watch(self.rt.prefix(), start_revision=page.revision + 1)
        async with watch:
            async for event in watch:
                self.revision = event.revision
                if event.type is EventType.PUT:
                    self.put(self._objects.decode(self.rt, event.kv))
                else:
                    self.remove(*self._key_of(event.kv.key))
