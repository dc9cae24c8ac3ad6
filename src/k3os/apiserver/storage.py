"""Objects on the revisioned store: JSON encoding, resourceVersions, paging tokens.

An object's resourceVersion is its key's mod revision (not stored in the value); a
list's is the revision it was read at. Continue tokens carry that revision and the last
key served, so every page reads the same snapshot until compaction removes it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from k3os.apis.jsonbytes import compact, parse
from k3os.apiserver.conversion import core_event_to_events_v1, events_v1_to_core_event
from k3os.apiserver.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    NotFound,
    ServiceUnavailable,
    Timeout,
)
from k3os.apiserver.registry import ResourceType
from k3os.store import (
    Compacted,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    Store,
    StoreUnavailable,
)
from k3os.store import Conflict as StoreConflict

__all__ = ["ListPage", "ObjectStore", "decode_continue", "encode_continue"]

Obj = dict[str, Any]
_CHUNK = 500  # store reads per round trip: bounds a read's size (etcd caps gRPC messages)


def encode_continue(revision: int, start_after: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start_after})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        rev, start = int(data["rv"]), str(data["start"])
    except (binascii.Error, ValueError, KeyError, TypeError) as e:
        raise BadRequest(f"continue key is not valid: {e}") from e
    return rev, start


@dataclass
class ListPage:
    items: list[Obj]
    revision: int
    continue_token: str = ""
    remaining: int | None = None


class ObjectStore:
    """Typed reads and writes of API objects over a `Store`."""

    def __init__(self, store: Store, *, event_ttl: int | None = None) -> None:
        """`event_ttl`: seconds the resources that expire (Events) live after their last
        write, in place of the registry's default; the store deletes them then."""
        self.store = store
        self.event_ttl = event_ttl

    def ttl(self, rt: ResourceType) -> int | None:
        """The TTL a write of `rt` gives its key (None: the key does not expire)."""
        if rt.ttl_seconds is None:
            return None
        return self.event_ttl or rt.ttl_seconds

    # --- encoding -------------------------------------------------------------------

    @staticmethod
    def encode(rt: ResourceType, obj: Obj) -> bytes:
        meta = obj.get("metadata") or {}
        stored = dict(obj)
        stored["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
        if rt.group == "events.k8s.io":
            stored = events_v1_to_core_event(stored)
        if rt.custom is not None:  # custom resources are kept at their CRD's storage version
            stored["apiVersion"] = f"{rt.group}/{rt.custom.storage_version}"
        return compact(stored)

    @staticmethod
    def decode(rt: ResourceType, kv: KeyValue, revision: int | None = None) -> Obj:
        obj: Obj = parse(kv.value)
        if rt.group == "events.k8s.io":
            obj = core_event_to_events_v1(obj)
        else:
            obj["apiVersion"] = rt.group_version
            obj["kind"] = rt.kind
        obj.setdefault("metadata", {})["resourceVersion"] = str(revision or kv.mod_revision)
        return obj

    # --- reads ----------------------------------------------------------------------

    async def get_kv(self, rt: ResourceType, namespace: str, name: str) -> tuple[Obj, KeyValue]:
        try:
            kv = await self.store.get(rt.key(namespace, name))
        except StoreUnavailable as e:
            raise ServiceUnavailable(str(e)) from e
        if kv is None:
            raise NotFound(rt.plural, name, group=rt.group)
        return self.decode(rt, kv), kv

    async def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        return (await self.get_kv(rt, namespace, name))[0]

    def recent_kv(self, rt: ResourceType, namespace: str, name: str) -> tuple[Obj, KeyValue] | None:
        """The object as the store last knew it without asking (`Store.recent`), perhaps
        already replaced: a guess for a write guarded by its revision, never an answer."""
        kv = self.store.recent(rt.key(namespace, name))
        return None if kv is None else (self.decode(rt, kv), kv)

    async def current_revision(self) -> int:
        return await self.store.current_revision()

    async def list(
        self,
        rt: ResourceType,
        namespace: str,
        *,
        limit: int = 0,
        continue_token: str = "",
        revision: int | None = None,
        keep: Callable[[Obj], bool] | None = None,
        prefix: str | None = None,
    ) -> ListPage:
        """One page of objects that `keep` accepts, at `revision` (default: now); `prefix`
        narrows the read within the kind's (one object's key)."""
        start_after: str | None = None
        prefix = prefix or rt.prefix(namespace)
        if continue_token:
            revision, start_after = decode_continue(continue_token)
            if revision <= 0:
                revision = None
        items: list[Obj] = []
        read_at = revision
        last_key = start_after
        more = False
        remaining: int | None = None
        try:
            while True:
                want = (limit - len(items)) if limit else _CHUNK
                batch = min(max(want, 64) if keep else want, _CHUNK)
                res = await self.store.range(
                    prefix, revision=read_at, limit=batch, start_after=last_key
                )
                read_at = res.revision
                for idx, kv in enumerate(res.items):
                    obj = self.decode(rt, kv)
                    last_key = kv.key
                    if keep is None or keep(obj):
                        items.append(obj)
                        if limit and len(items) >= limit:
                            more = res.more or idx + 1 < len(res.items)
                            if more and keep is None:
                                remaining = res.count - idx - 1
                            break
                else:
                    if res.more and (not limit or len(items) < limit):
                        continue
                    more = False
                break
        except Compacted as e:
            if continue_token:
                fresh = encode_continue(0, start_after or "")
                raise Expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use "
                    "the continue token in this response to retrieve the remainder of the "
                    "results. Continuing with the provided token results in an inconsistent "
                    "list - objects that were created, modified, or deleted between the time "
                    "the first chunk was returned and now may show up in the list.",
                    continue_token=fresh,
                ) from e
            raise Expired.too_old(revision or 0, e.compact_revision) from e
        except FutureRevision as e:
            raise Timeout.too_large_resource_version(e.revision, e.current_revision) from e
        except StoreUnavailable as e:
            raise ServiceUnavailable(str(e)) from e
        token = encode_continue(read_at, last_key or "") if more else ""
        return ListPage(items, read_at, token, remaining)

    # --- writes ---------------------------------------------------------------------

    async def create(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        key = rt.key(meta.get("namespace", ""), meta["name"])
        try:
            kv = await self.store.create(key, self.encode(rt, obj), ttl=self.ttl(rt))
        except KeyExists as e:
            raise AlreadyExists(rt.plural, meta["name"], group=rt.group) from e
        except StoreUnavailable as e:
            raise ServiceUnavailable(str(e)) from e
        return self.decode(rt, kv)

    async def update(self, rt: ResourceType, obj: Obj, expected: int) -> Obj:
        meta = obj["metadata"]
        key = rt.key(meta.get("namespace", ""), meta["name"])
        try:
            kv = await self.store.update(
                key, self.encode(rt, obj), expected_mod_revision=expected, ttl=self.ttl(rt)
            )
        except KeyNotFound as e:
            raise NotFound(rt.plural, meta["name"], group=rt.group) from e
        except StoreConflict as e:
            raise Conflict(rt.plural, meta["name"], group=rt.group) from e
        except StoreUnavailable as e:
            raise ServiceUnavailable(str(e)) from e
        return self.decode(rt, kv)

    async def delete(self, rt: ResourceType, obj: Obj, expected: int) -> Obj:
        """Remove the object; the answer carries the deletion's revision as its RV."""
        meta = obj["metadata"]
        key = rt.key(meta.get("namespace", ""), meta["name"])
        try:
            res = await self.store.delete(key, expected_mod_revision=expected)
        except KeyNotFound as e:
            raise NotFound(rt.plural, meta["name"], group=rt.group) from e
        except StoreConflict as e:
            raise Conflict(rt.plural, meta["name"], group=rt.group) from e
        except StoreUnavailable as e:
            raise ServiceUnavailable(str(e)) from e
        return self.decode(rt, res.prev_kv, res.revision)
