"""An in-memory stand-in for `Kube` for the fleet controllers' unit tests: objects by
(resource, namespace, name) with resourceVersions, merge and JSON patches, subresources,
deletes, pod listing by node, and evictions a test can refuse (429) as a budget would."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from k3os.client import ApiStatusError, ConflictError, InformerSet, NotFoundError, ObjectList
from k3os.client.resources import ResourceType

Obj = dict[str, Any]
Key = tuple[str, str, str]


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


class Crash(Exception):
    """The controller dying in the middle of a pass."""


class FleetKube:
    def __init__(self) -> None:
        self.objects: dict[Key, Obj] = {}
        self.rv = itertools.count(1)
        self.uids = itertools.count(1)
        self.refuse_evictions: set[str] = set()
        self.evicted: list[str] = []
        self.deleted: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.crash_on: set[str] = set()
        """Patches of these ("nodes", "plans/status"): fail once, as a crash there would."""

    @staticmethod
    def _key(rt: ResourceType, name: str, namespace: str) -> Key:
        return (rt.plural, namespace if rt.namespaced else "", name)

    def put(self, rt: ResourceType, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self.uids)}")
        meta["resourceVersion"] = str(next(self.rv))
        obj.setdefault("kind", rt.kind)
        obj.setdefault("apiVersion", rt.api_version)
        self.objects[self._key(rt, meta["name"], meta.get("namespace") or "")] = obj
        return copy.deepcopy(obj)

    def peek(self, rt: ResourceType, name: str, namespace: str = "") -> Obj:
        return self.objects[self._key(rt, name, namespace)]

    def of(self, rt: ResourceType) -> list[Obj]:
        return [
            copy.deepcopy(o) for (plural, _, _), o in self.objects.items() if plural == rt.plural
        ]

    def sync(self, informers: InformerSet) -> None:
        """Bring every informer's cache to the store's state (as its watch would)."""
        for informer in informers:
            fresh = {}
            for obj in self.of(informer.rt):
                meta = obj["metadata"]
                if informer.namespace and meta.get("namespace") != informer.namespace:
                    continue
                fresh[(meta.get("namespace") or "", meta["name"])] = obj
            for key in informer.cache.list_keys():
                if key not in fresh:
                    old = informer.cache.remove(key)
                    informer._notify("DELETED", old or {}, old)
            for obj in fresh.values():
                informer._store(obj)
            informer.synced.set()

    def _missing(self, rt: ResourceType, name: str) -> NotFoundError:
        return NotFoundError(404, "NotFound", f'{rt.plural} "{name}" not found', {})

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> Obj:
        self.calls.append(("get", rt.plural))
        try:
            return copy.deepcopy(self.objects[self._key(rt, name, namespace)])
        except KeyError:
            raise self._missing(rt, name) from None

    async def list(
        self, rt: ResourceType, namespace: str = "", *, field_selector: str = "", **_: Any
    ) -> ObjectList:
        self.calls.append(("list", rt.plural))
        items = self.of(rt)
        if field_selector.startswith("spec.nodeName="):
            node = field_selector.partition("=")[2]
            items = [i for i in items if (i.get("spec") or {}).get("nodeName") == node]
        return ObjectList(items, str(next(self.rv)))

    async def create(self, rt: ResourceType, obj: Obj, namespace: str = "") -> Obj:
        self.calls.append(("create", rt.plural))
        meta = obj.get("metadata") or {}
        key = self._key(rt, meta["name"], namespace or meta.get("namespace") or "")
        if key in self.objects:
            raise ConflictError(409, "AlreadyExists", "exists", {})
        body = copy.deepcopy(obj)
        if namespace and rt.namespaced:
            body["metadata"]["namespace"] = namespace
        return self.put(rt, body)

    async def replace(self, rt: ResourceType, obj: Obj, *, subresource: str = "") -> Obj:
        self.calls.append(("replace", rt.plural))
        return self.put(rt, obj)

    async def patch(
        self,
        rt: ResourceType,
        name: str,
        patch: Any,
        *,
        namespace: str = "",
        patch_type: str = "merge",
        subresource: str = "",
        force: bool = False,
    ) -> Obj:
        what = f"{rt.plural}/{subresource}" if subresource else rt.plural
        self.calls.append(("patch", what))
        if what in self.crash_on:
            self.crash_on.discard(what)
            raise Crash(f"crashed before patching {what} {name}")
        key = self._key(rt, name, namespace)
        if key not in self.objects:
            raise self._missing(rt, name)
        current = self.objects[key]
        if patch_type == "json":
            new = copy.deepcopy(current)
            for op in patch:
                assert op["op"] in ("add", "replace") and op["path"].count("/") == 1
                new[op["path"][1:]] = copy.deepcopy(op["value"])
        else:
            new = merge(current, patch)
        return self.put(rt, new)

    async def delete(self, rt: ResourceType, name: str, namespace: str = "", **_: Any) -> Obj:
        self.calls.append(("delete", rt.plural))
        key = self._key(rt, name, namespace)
        if key not in self.objects:
            raise self._missing(rt, name)
        self.deleted.append(f"{namespace}/{name}" if namespace else name)
        return self.objects.pop(key)

    async def request(self, method: str, path: str, **_: Any) -> Obj:
        self.calls.append((method, path))
        parts = path.strip("/").split("/")
        if parts[-1] == "eviction":
            namespace, name = parts[-4], parts[-2]
            ref = f"{namespace}/{name}"
            if ref in self.refuse_evictions:
                raise ApiStatusError(429, "TooManyRequests", "budget", {})
            key = ("pods", namespace, name)
            if key not in self.objects:
                raise NotFoundError(404, "NotFound", "gone", {})
            del self.objects[key]
            self.evicted.append(ref)
            return {"status": "Success"}
        raise AssertionError(f"unexpected request {method} {path}")
