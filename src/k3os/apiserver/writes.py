"""create and update (PUT), including the status subresource and namespace finalize.

Update is optimistic: a body carrying a resourceVersion must match the stored one (409
otherwise); a body without one is applied to whatever is current. Removing the last
finalizer of an object marked for deletion deletes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from k3os.apiserver.admission import check_body, require_namespace
from k3os.apiserver.context import ApiContext
from k3os.apiserver.customresources import validate_write
from k3os.apiserver.errors import (
    APIError,
    BadRequest,
    Conflict,
    Invalid,
    MethodNotAllowed,
    NotFound,
)
from k3os.apiserver.jsoncopy import deep_copy
from k3os.apiserver.managed import record_update
from k3os.apiserver.node_admission import admit_write
from k3os.apiserver.objects import carry_over, prepare_create
from k3os.apiserver.request import ApiRequest
from k3os.apiserver.validation import validate_name

__all__ = ["create", "persist_update", "update"]

Obj = dict[str, Any]
_RETRIES = 64  # upstream retries unconditional writes until they land


def field_manager(req: ApiRequest, user_agent: str) -> str:
    manager = req.query.get("fieldManager") or ""
    if not manager:
        manager = (user_agent or "unknown").split("/", 1)[0]
    if len(manager) > 128:
        raise BadRequest("fieldManager must be at most 128 characters")
    return manager


async def create(
    ctx: ApiContext, req: ApiRequest, body: Any, user_agent: str = "", *, managed: bool = True
) -> tuple[Obj, list[str]]:
    """Create; `managed=False` when the body already carries its managedFields (apply)."""
    rt = req.rt
    if req.name:
        raise MethodNotAllowed(rt.plural, "POST", group=rt.group)
    obj, warnings = check_body(ctx, req, body)
    obj = prepare_create(rt, obj, req.namespace, ctx.clock())
    validate_write(rt, obj, None)
    await require_namespace(ctx, rt, obj["metadata"].get("namespace", ""))
    if managed:
        obj = record_update(rt, obj, None, field_manager(req, user_agent), ctx.clock())
    admit_write(obj, None)
    if req.dry_run:
        obj["metadata"]["resourceVersion"] = ""
        return obj, warnings
    return await ctx.objects.create(rt, obj), warnings


async def persist_update(
    ctx: ApiContext,
    req: ApiRequest,
    mutate: Callable[[Obj], Awaitable[Obj]],
    *,
    manager: str,
    operation: str = "Update",
    changes_current: bool = True,
) -> Obj:
    """Read, let `mutate` produce the new object from the current one, write with
    compare-and-swap, retrying when the object changed underneath (and the caller's body
    did not pin a resourceVersion: `mutate` raises Conflict for that itself).

    `mutate` gets a copy of the current object, or (`changes_current=False`: it promises
    to leave it alone, as the patch functions do) the object itself; what it returns must
    be its own (not share parts with the current object), as every step after it works
    in place on that."""
    rt = req.rt
    # A store that knows the object without a read (`Store.recent`: an API worker's link,
    # the etcd driver) offers it for the first try; only its compare-and-swap write settles
    # anything. Whatever else that try ends in (an error, nothing to change, a pinned
    # resourceVersion that does not match) is judged again on a real read.
    guess = None if req.dry_run else ctx.objects.recent_kv(rt, req.namespace, req.name)
    for _ in range(_RETRIES):
        if guess is not None:
            (current, kv), guess, guessed = guess, None, True
        else:
            current, kv = await ctx.objects.get_kv(rt, req.namespace, req.name)
            guessed = False
        try:
            new = await _updated(ctx, req, mutate, current, manager, operation, changes_current)
        except APIError:
            if guessed:
                continue
            raise
        meta = new["metadata"]
        if req.dry_run:
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            return new
        if _unchanged(current, new):
            if guessed:
                continue
            return current
        try:
            if (
                meta.get("deletionTimestamp")
                and not meta.get("finalizers")
                and not _blocks_deletion(new)
            ):
                return await ctx.objects.delete(rt, new, kv.mod_revision)
            return await ctx.objects.update(rt, new, kv.mod_revision)
        except Conflict:
            continue
        except NotFound:  # deleted since the guess was made: the read says so
            if guessed:
                continue
            raise
    raise Conflict(rt.plural, req.name, group=rt.group)


async def _updated(
    ctx: ApiContext,
    req: ApiRequest,
    mutate: Callable[[Obj], Awaitable[Obj]],
    current: Obj,
    manager: str,
    operation: str,
    changes_current: bool,
) -> Obj:
    """The object `mutate` makes of `current`, carried over, validated, its managed fields
    recorded and admitted: what `persist_update` writes."""
    rt = req.rt
    proposed = await mutate(deep_copy(current) if changes_current else current)
    new = carry_over(rt, current, proposed, req.namespace, subresource=req.subresource, owned=True)
    validate_write(rt, new, current)
    if new["metadata"].get("managedFields") is None and "managedFields" in current["metadata"]:
        new["metadata"]["managedFields"] = current["metadata"]["managedFields"]
    if operation == "Update":
        new = record_update(rt, new, current, manager, ctx.clock(), req.subresource, owned=True)
    admit_write(new, current)
    return new


def _unchanged(old: Obj, new: Obj) -> bool:
    a = {**old, "metadata": {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}}
    b = {**new, "metadata": {k: v for k, v in new["metadata"].items() if k != "resourceVersion"}}
    return a == b


def _blocks_deletion(obj: Obj) -> bool:
    """Namespaces also wait for their spec.finalizers (the namespace controller's)."""
    return obj.get("kind") == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))


async def update(
    ctx: ApiContext, req: ApiRequest, body: Any, user_agent: str = ""
) -> tuple[Obj, list[str]]:
    rt = req.rt
    if not req.name:
        raise MethodNotAllowed(rt.plural, "PUT", group=rt.group)
    obj, warnings = check_body(ctx, req, body)
    meta = obj.setdefault("metadata", {})
    if meta.get("name") and meta["name"] != req.name:
        raise BadRequest(
            f"the name of the object ({meta['name']}) does not match the name on the URL "
            f"({req.name})"
        )
    errors = validate_name(
        req.name,
        label=rt.plural == "namespaces" and not rt.group,
        path_segment=rt.group == "rbac.authorization.k8s.io",
    )
    if errors:
        raise Invalid(rt.kind, req.name, errors, group=rt.group)
    pinned = str(meta.get("resourceVersion") or "")
    manager = field_manager(req, user_agent)

    async def mutate(current: Obj) -> Obj:
        if pinned and pinned != current["metadata"]["resourceVersion"]:
            raise Conflict(rt.plural, req.name, group=rt.group)
        new = deep_copy(obj)
        if req.subresource == "finalize":
            spec = current.setdefault("spec", {})
            spec["finalizers"] = (new.get("spec") or {}).get("finalizers") or []
            return current
        return new

    # Only `finalize` changes the current object; a replacement leaves it alone (no copy).
    changes = req.subresource == "finalize"
    return await persist_update(
        ctx, req, mutate, manager=manager, changes_current=changes
    ), warnings
