"""The server's CRD loop: keeps the registry in step with the stored CRDs, gives each CRD
its status (NamesAccepted, Established, stored versions) and cleans up on deletion.

It watches the CRD keys in the store, so every server sharing a datastore serves a CRD
as soon as any of them stores it. A CRD carries the `customresourcecleanup` finalizer;
when it is deleted its objects are deleted (their own finalizers respected), then the
finalizer goes and the CRD with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from k3os.apiserver import crd as crdlib
from k3os.apiserver.context import ApiContext
from k3os.apiserver.deletion import DeleteOptions, delete
from k3os.apiserver.errors import APIError, Conflict, NotFound
from k3os.apiserver.jsoncopy import deep_copy
from k3os.apiserver.objects import rfc3339
from k3os.apiserver.registry import ResourceType
from k3os.apiserver.request import ApiRequest
from k3os.apiserver.storage import ObjectStore
from k3os.store import Compacted, EventType, StoreClosed, StoreUnavailable

__all__ = ["CustomResourceDefinitions"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class CustomResourceDefinitions:
    """Start with `start()` (serves what is stored before returning), end with `stop()`."""

    def __init__(self, ctx: ApiContext, *, retry_seconds: float = 1.0) -> None:
        self.ctx = ctx
        self.retry_seconds = retry_seconds
        found = ctx.registry.lookup(crdlib.GROUP, "v1", "customresourcedefinitions")
        assert found is not None
        self.rt: ResourceType = found
        self._installed: dict[str, list[ResourceType]] = {}
        self._task: asyncio.Task[None] | None = None
        self._retries: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        revision = await self._sync_all()
        self._task = asyncio.create_task(self._run(revision), name="crd-controller")

    async def stop(self) -> None:
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- the loop --------------------------------------------------------------------

    async def _sync_all(self) -> int:
        page = await self.ctx.objects.list(self.rt, "")
        seen = set()
        for obj in page.items:
            seen.add(obj["metadata"]["name"])
            await self.reconcile(obj)
        for name in set(self._installed) - seen:
            self._forget(name)
        return page.revision

    async def _run(self, revision: int) -> None:
        while True:
            try:
                async with await self.ctx.store.watch(
                    self.rt.prefix(), start_revision=revision + 1
                ) as watch:
                    async for event in watch:
                        revision = event.revision
                        if event.type is EventType.DELETE:
                            if event.prev_kv is not None:
                                await self._deleted(ObjectStore.decode(self.rt, event.prev_kv))
                        else:
                            await self.reconcile(ObjectStore.decode(self.rt, event.kv))
            except StoreClosed:
                return
            except (Compacted, StoreUnavailable, APIError) as e:
                log.warning("CRD loop relists after %s: %s", type(e).__name__, e)
            # Relist (what changed meanwhile is reconciled), then watch from there.
            while True:
                await asyncio.sleep(self.retry_seconds)
                try:
                    revision = await self._sync_all()
                    break
                except (APIError, StoreUnavailable) as e:
                    log.warning("CRD relist failed: %s", e)

    # --- one CRD -----------------------------------------------------------------------

    def _others(self, name: str) -> list[ResourceType]:
        return [
            rt
            for rt in self.ctx.registry
            if rt.custom is None or getattr(rt.custom, "crd_name", "") != name
        ]

    def _install(self, name: str, obj: Obj) -> None:
        types = crdlib.resource_types(obj)
        before = self._installed.get(name, [])
        if [(t, t.custom) for t in types] == [(t, t.custom) for t in before]:
            return  # unchanged: keep the registry (and the rendered OpenAPI) as they are
        self._forget(name)
        for rt in types:
            self.ctx.registry.add(rt)
        self._installed[name] = types
        log.info("serving %s (%s)", name, ", ".join(t.version for t in types))

    def _forget(self, name: str) -> None:
        for rt in self._installed.pop(name, []):
            current = self.ctx.registry.lookup(rt.group, rt.version, rt.plural)
            if current is not None and current.custom is rt.custom:
                self.ctx.registry.remove(rt.group, rt.version, rt.plural)

    async def reconcile(self, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        conflict = crdlib.name_conflicts(obj, self._others(name))
        if not conflict:
            self._install(name, obj)
        else:
            self._forget(name)
        if obj["metadata"].get("deletionTimestamp"):
            await self._finalize(obj)
            return
        status = crdlib.conditions(obj, conflict, rfc3339(self.ctx.clock()))
        finalizers = list(obj["metadata"].get("finalizers") or [])
        if status == obj.get("status") and crdlib.CLEANUP_FINALIZER in finalizers:
            return
        new = deep_copy(obj)
        new["status"] = status
        if crdlib.CLEANUP_FINALIZER not in finalizers:
            new["metadata"]["finalizers"] = [*finalizers, crdlib.CLEANUP_FINALIZER]
        await self._write(obj, new)

    async def _write(self, old: Obj, new: Obj) -> None:
        try:
            await self.ctx.objects.update(self.rt, new, int(old["metadata"]["resourceVersion"]))
        except (Conflict, NotFound):
            return  # a newer version is on its way through the watch

    async def _finalize(self, obj: Obj) -> None:
        """Delete the CRD's objects; drop the finalizer once none is left."""
        name = obj["metadata"]["name"]
        remaining = await self._delete_objects(obj)
        if remaining:
            status = crdlib.conditions(
                obj, "", rfc3339(self.ctx.clock()),
                terminating=f"CustomResource deletion is in progress ({remaining} left)",
            )  # fmt: skip
            if status != obj.get("status"):
                await self._write(obj, {**obj, "status": status})
            self._retry_later(name)
            return
        finalizers = [
            f for f in obj["metadata"].get("finalizers") or [] if f != crdlib.CLEANUP_FINALIZER
        ]
        new = deep_copy(obj)
        new["metadata"]["finalizers"] = finalizers
        try:
            if finalizers:
                await self.ctx.objects.update(self.rt, new, int(obj["metadata"]["resourceVersion"]))
            else:
                await self.ctx.objects.delete(self.rt, new, int(obj["metadata"]["resourceVersion"]))
        except (Conflict, NotFound):
            return

    async def _delete_objects(self, obj: Obj) -> int:
        """Ask for the deletion of every object of the CRD; how many are still stored."""
        types = crdlib.resource_types({**obj, "spec": _all_served(obj)})
        if not types:
            return 0
        rt = types[0]
        page = await self.ctx.objects.list(rt, "")
        for item in page.items:
            meta = item["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            req = ApiRequest(rt, meta.get("namespace", ""), meta["name"], "", {})
            with contextlib.suppress(NotFound, Conflict):
                await delete(self.ctx, req, DeleteOptions(propagation="Background"))
        return len((await self.ctx.objects.list(rt, "")).items)

    def _retry_later(self, name: str) -> None:
        if name in self._retries:
            return

        async def later() -> None:
            await asyncio.sleep(self.retry_seconds)
            self._retries.pop(name, None)
            await self._recheck(name)

        self._retries[name] = asyncio.create_task(later(), name=f"crd-cleanup-{name}")

    async def _recheck(self, name: str) -> None:
        try:
            obj = await self.ctx.objects.get(self.rt, "", name)
        except (NotFound, StoreUnavailable, APIError):
            return
        await self.reconcile(obj)

    async def _deleted(self, obj: Obj) -> None:
        """The CRD is gone: stop serving it, and remove what is left of its objects."""
        name = obj["metadata"]["name"]
        self._forget(name)
        handle = self._retries.pop(name, None)
        if handle is not None:
            handle.cancel()
        types = crdlib.resource_types({**obj, "spec": _all_served(obj)})
        with contextlib.suppress(APIError, StoreUnavailable):
            if types:
                page = await self.ctx.objects.list(types[0], "")
                for item in page.items:
                    meta = item["metadata"]
                    await self.ctx.store.delete(
                        types[0].key(meta.get("namespace", ""), meta["name"])
                    )
            # Names it held may now be free for a CRD that was refused them.
            group = (obj.get("spec") or {}).get("group")
            for other in (await self.ctx.objects.list(self.rt, "")).items:
                if (other.get("spec") or {}).get("group") == group:
                    await self.reconcile(other)


def _all_served(obj: Obj) -> Obj:
    spec = deep_copy(obj.get("spec") or {})
    for v in spec.get("versions") or []:
        if isinstance(v, dict):
            v["served"] = True
    return spec
