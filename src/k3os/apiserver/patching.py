"""The PATCH verb: apply the body (patch.py / strategic.py / apply.py) to the current
object, then store the result through the same checks as an update.

A patch that carries a resourceVersion must match the stored one (409 otherwise);
without one it is reapplied to a fresh read when a concurrent write wins the race.
Server-side apply creates the object when it does not exist.
"""

from __future__ import annotations

from typing import Any

from k3os.apiserver.admission import check_body
from k3os.apiserver.context import ApiContext
from k3os.apiserver.defaults import defaults_stay_shallow
from k3os.apiserver.errors import BadRequest, Conflict, MethodNotAllowed, NotFound
from k3os.apiserver.managed import apply_config
from k3os.apiserver.negotiation import decode_body, parse_media_type
from k3os.apiserver.patch import APPLY_PATCH, patch_object
from k3os.apiserver.request import ApiRequest
from k3os.apiserver.writes import create, field_manager, persist_update

__all__ = ["patch"]

Obj = dict[str, Any]


async def patch(
    ctx: ApiContext, req: ApiRequest, raw: bytes, content_type: str, user_agent: str = ""
) -> tuple[Obj, list[str], int]:
    """The patched object, warnings, and the HTTP status (201 when apply created it)."""
    rt = req.rt
    if not req.name:
        raise MethodNotAllowed(rt.plural, "PATCH", group=rt.group)
    media = parse_media_type(content_type or "").type
    if media == APPLY_PATCH:
        return await _server_side_apply(ctx, req, raw, user_agent)
    manager = field_manager(req, user_agent)
    warnings: list[str] = []
    share = rt.custom is None and defaults_stay_shallow(rt.group, rt.kind)

    async def mutate(current: Obj) -> Obj:
        patched = patch_object(
            content_type, current, raw, api_version=rt.group_version, kind=rt.kind, share=share
        )
        if share:
            _own_metadata(patched)
        pinned = str((patched.get("metadata") or {}).get("resourceVersion") or "")
        if pinned and pinned != current["metadata"]["resourceVersion"]:
            raise Conflict(rt.plural, req.name, group=rt.group)
        obj, found = check_body(ctx, req, patched, stored=current)
        warnings[:] = found
        return obj

    # The patch functions leave `current` alone and return a new object.
    updated = await persist_update(ctx, req, mutate, manager=manager, changes_current=False)
    return updated, warnings, 200


def _own_metadata(obj: Obj) -> None:
    """Give a patched object that shares the stored one's parts (`share`) its own
    metadata and labels: the only parts below its top level that the steps after the
    patch change in place (`carry_over`, managed fields, the resourceVersion, and the
    defaults `defaults_stay_shallow` allows). The rest stays shared with the stored
    object, which nothing changes in place; the schema check rebuilds what it walks."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta = obj["metadata"] = dict(meta)
        labels = meta.get("labels")
        if isinstance(labels, dict):
            meta["labels"] = dict(labels)


async def _server_side_apply(
    ctx: ApiContext, req: ApiRequest, raw: bytes, user_agent: str
) -> tuple[Obj, list[str], int]:
    rt = req.rt
    manager = req.query.get("fieldManager") or ""
    if not manager:
        raise BadRequest(
            "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests"
        )
    force = req.query.get("force", "").lower() == "true"
    config, _ = decode_body(raw, APPLY_PATCH, patch=True)
    if not isinstance(config, dict):
        raise BadRequest("an apply configuration must be an object")
    meta = config.get("metadata") or {}
    if meta.get("name") not in (None, req.name):
        raise BadRequest(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL "
            f"({req.name})"
        )
    try:
        await ctx.objects.get_kv(rt, req.namespace, req.name)
    except NotFound:
        fresh = apply_config(rt, None, config, manager, ctx.clock(), force=force)
        fresh.setdefault("metadata", {})["name"] = req.name
        made, created_warnings = await create(ctx, _as_create(req), fresh, manager, managed=False)
        return made, created_warnings, 201
    warnings: list[str] = []

    async def mutate(current: Obj) -> Obj:
        result = apply_config(
            rt, current, config, manager, ctx.clock(), force=force, subresource=req.subresource
        )
        obj, found = check_body(ctx, req, result, stored=current)
        warnings[:] = found
        return obj

    updated = await persist_update(
        ctx, req, mutate, manager=manager, operation="Apply", changes_current=False
    )
    return updated, warnings, 200


def _as_create(req: ApiRequest) -> ApiRequest:
    return ApiRequest(req.rt, req.namespace, "", "", req.query)
