"""get and list, with selectors, paging and resourceVersion semantics.

List: `labelSelector`, `fieldSelector` (per-resource fields), `limit` + `continue`,
`resourceVersion` with `resourceVersionMatch` (NotOlderThan by default for a non-zero
version, Exact reads that snapshot or answers 410).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k3os.apiserver.context import ApiContext
from k3os.apiserver.errors import BadRequest, Timeout
from k3os.apiserver.registry import ResourceType
from k3os.apiserver.request import ApiRequest, query_int
from k3os.apiserver.selectors import (
    check_field_selector,
    field_set,
    parse_field_selector,
    parse_label_selector,
    selectable_fields,
)

__all__ = ["get", "list_objects", "matcher", "parse_revision"]

Obj = dict[str, Any]


def matcher(rt: ResourceType, query: dict[str, str] | Any) -> Callable[[Obj], bool] | None:
    """The label+field selector of a list or watch as a predicate (None: everything)."""
    labels = parse_label_selector(query.get("labelSelector"))
    fields = parse_field_selector(query.get("fieldSelector"))
    if labels.empty and fields.empty:
        return None
    table = selectable_fields(rt.group, rt.plural, namespaced=rt.namespaced)
    check_field_selector(fields, table)

    def keep(obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if not labels.matches(meta.get("labels") or {}):
            return False
        return fields.empty or fields.matches(field_set(obj, table))

    return keep


_KEY_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


def selects_by_key(query: dict[str, str] | Any) -> bool:
    """Whether a list or watch selects by nothing but what an object's key holds (its name
    and namespace): then every version of an object is in or out alike."""
    labels = parse_label_selector(query.get("labelSelector"))
    return labels.empty and parse_field_selector(query.get("fieldSelector")).fields() <= _KEY_FIELDS


def parse_revision(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        rev = int(value)
    except ValueError as e:
        raise BadRequest(f'invalid resource version "{value}"') from e
    if rev < 0:
        raise BadRequest(f'invalid resource version "{value}"')
    return rev


async def get(ctx: ApiContext, req: ApiRequest) -> Obj:
    rv = parse_revision(req.query.get("resourceVersion"))
    if rv:
        current = await ctx.objects.current_revision()
        if rv > current:
            raise Timeout.too_large_resource_version(rv, current)
    return await ctx.objects.get(req.rt, req.namespace, req.name)


async def list_objects(ctx: ApiContext, req: ApiRequest) -> Obj:
    rt = req.rt
    q = req.query
    keep = matcher(rt, q)
    limit = query_int(q, "limit")
    if limit < 0:
        raise BadRequest("limit must be a non-negative integer")
    token = q.get("continue", "")
    rv = parse_revision(q.get("resourceVersion"))
    match = q.get("resourceVersionMatch", "")
    if match not in ("", "Exact", "NotOlderThan"):
        raise BadRequest(
            f"resourceVersionMatch: Unsupported value: {match!r}: supported values: "
            '"Exact", "NotOlderThan"'
        )
    if match and rv is None:
        raise BadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
    if token and rv not in (None, 0):
        raise BadRequest("specifying resource version is not allowed when using continue")
    if match == "Exact" and rv == 0:
        raise BadRequest('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
    revision: int | None = None
    if rv:
        current = await ctx.objects.current_revision()
        if rv > current:
            raise Timeout.too_large_resource_version(rv, current)
        if match == "Exact":
            revision = rv
    page = await ctx.objects.list(
        rt,
        req.namespace,
        limit=limit,
        continue_token=token,
        revision=revision,
        keep=keep,
        prefix=selected_prefix(req),
    )
    meta: dict[str, Any] = {"resourceVersion": str(page.revision)}
    if page.continue_token:
        meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
    return {
        "apiVersion": rt.group_version,
        "kind": rt.list_kind,
        "metadata": meta,
        "items": page.items,
    }


def selected_prefix(req: ApiRequest) -> str:
    """The store prefix a list or watch reads: the one object's key when it selects a single
    name (an agent watching its own Node), so a list reads one key instead of scanning the
    kind, and writes to other objects never wake the watch; else the kind's prefix. The
    selector still filters: a longer name shares the key as a prefix."""
    names = {req.name} if req.name else set()
    for term in str(req.query.get("fieldSelector", "")).split(","):
        term = term.strip()
        for op in ("metadata.name==", "metadata.name="):
            if term.startswith(op):
                names.add(term[len(op) :])
                break
    rt = req.rt
    if len(names) == 1 and (not rt.namespaced or req.namespace):
        name = names.pop()
        if name and "\\" not in name:
            return rt.key(req.namespace, name)
    return rt.prefix(req.namespace)
