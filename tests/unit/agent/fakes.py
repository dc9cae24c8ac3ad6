"""A small in-memory stand-in for `Kube` for the agent's unit tests: objects by resource,
namespace and name, merge patches (None deletes), resourceVersions and conflicts."""

from __future__ import annotations

import copy
from typing import Any

from k3os.client import ApiStatusError, ConflictError, NotFoundError, TransportError
from k3os.client.resources import ResourceType

Obj = dict[str, Any]


def merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.rv = 0
        self.fail_next = 0
        self.calls: list[tuple[str, str, str]] = []
        self.config: Any = None

    def _fail(self) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise TransportError("connection refused")

    def _key(self, rt: ResourceType, name: str, namespace: str) -> tuple[str, str, str]:
        return (rt.plural, namespace if rt.namespaced else "", name)

    def _store(self, key: tuple[str, str, str], obj: Obj) -> Obj:
        self.rv += 1
        stored = copy.deepcopy(obj)
        stored.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        stored["metadata"].setdefault("uid", f"uid-{key[2]}")
        self.objects[key] = stored
        return copy.deepcopy(stored)

    def put(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        return self._store(self._key(rt, meta["name"], meta.get("namespace", "")), obj)

    def peek(self, rt: ResourceType, name: str, namespace: str = "") -> Obj:
        return self.objects[self._key(rt, name, namespace)]

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> Obj:
        self._fail()
        self.calls.append(("get", rt.plural, name))
        try:
            return copy.deepcopy(self.objects[self._key(rt, name, namespace)])
        except KeyError:
            raise NotFoundError(404, "NotFound", f"{rt.plural} {name!r} not found", {}) from None

    async def create(self, rt: ResourceType, obj: Obj, namespace: str = "") -> Obj:
        self._fail()
        meta = obj["metadata"]
        ns = namespace or meta.get("namespace", "")
        self.calls.append(("create", rt.plural, meta["name"]))
        key = self._key(rt, meta["name"], ns)
        if key in self.objects:
            raise ConflictError(409, "AlreadyExists", "exists", {})
        return self._store(key, obj)

    async def replace(self, rt: ResourceType, obj: Obj, *, subresource: str = "") -> Obj:
        self._fail()
        meta = obj["metadata"]
        key = self._key(rt, meta["name"], meta.get("namespace", ""))
        self.calls.append(("replace", rt.plural, meta["name"]))
        if key not in self.objects:
            raise NotFoundError(404, "NotFound", f"{rt.plural} {meta['name']!r} not found", {})
        if meta.get("resourceVersion") != self.objects[key]["metadata"]["resourceVersion"]:
            raise ConflictError(409, "Conflict", "stale", {})
        return self._store(key, obj)

    async def patch(
        self,
        rt: ResourceType,
        name: str,
        patch: Any,
        *,
        namespace: str = "",
        subresource: str = "",
        **kw: Any,
    ) -> Obj:
        self._fail()
        self.calls.append(("patch" + (f"/{subresource}" if subresource else ""), rt.plural, name))
        key = self._key(rt, name, namespace)
        if key not in self.objects:
            raise NotFoundError(404, "NotFound", f"{rt.plural} {name!r} not found", {})
        current = self.objects[key]
        if kw.get("patch_type") == "json":  # RFC 6902, a failed test answered as the API does
            import jsonpatch
            import jsonpointer

            try:
                patched = jsonpatch.apply_patch(copy.deepcopy(current), patch)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
                raise ApiStatusError(422, "Invalid", str(e), {}) from None
            if subresource == "status":
                patched = {**current, "status": patched.get("status")}
            return self._store(key, patched)
        if subresource == "status":
            patch = {"status": patch.get("status")}
        return self._store(key, merge(current, patch))


class ListWatchKube(FakeKube):
    """FakeKube that also lists (by field selector `metadata.name=`) and watches (a stream
    that stays open with no events), enough for informers."""

    async def list(self, rt: ResourceType, namespace: str = "", **kw: Any) -> Any:
        from k3os.client import ObjectList

        wanted = str(kw.get("field_selector", "")).removeprefix("metadata.name=")
        items = [
            copy.deepcopy(o)
            for (plural, _, name), o in self.objects.items()
            if plural == rt.plural and (not wanted or name == wanted)
        ]
        return ObjectList(items, str(self.rv))

    async def watch(self, rt: ResourceType, namespace: str = "", **kw: Any) -> Any:
        import asyncio

        await asyncio.Event().wait()
        yield  # pragma: no cover

    async def aclose(self) -> None:
        return None
