"""delete and deletecollection: preconditions, finalizers, grace periods, propagation.

An object with finalizers (or, for namespaces, spec.finalizers) is only marked:
`deletionTimestamp` is set and the object stays until the last finalizer is removed.
Foreground and Orphan propagation add the `foregroundDeletion` / `orphan` finalizer
the garbage collector acts on. A pod bound to a node and not finished is deleted
gracefully: marked with its grace period, removed by a second delete (the node agent's)
with grace 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from k3os.apiserver.context import ApiContext
from k3os.apiserver.errors import BadRequest, Conflict, MethodNotAllowed, NotFound
from k3os.apiserver.node_admission import admit_write
from k3os.apiserver.objects import rfc3339
from k3os.apiserver.reads import list_objects
from k3os.apiserver.request import ApiRequest, query_int

__all__ = ["DeleteOptions", "delete", "delete_collection", "parse_delete_options"]

Obj = dict[str, Any]
_POLICIES = ("Orphan", "Background", "Foreground")
_RETRIES = 8


@dataclass(frozen=True)
class DeleteOptions:
    grace_period: int | None = None
    propagation: str = ""
    uid: str = ""
    resource_version: str = ""
    dry_run: bool = False


def parse_delete_options(req: ApiRequest, body: Any) -> DeleteOptions:
    if body is not None and not isinstance(body, dict):
        raise BadRequest("DeleteOptions must be an object")
    body = body or {}
    q = req.query
    grace: int | None = None
    if body.get("gracePeriodSeconds") is not None:
        grace = int(body["gracePeriodSeconds"])
    elif q.get("gracePeriodSeconds") not in (None, ""):
        grace = query_int(q, "gracePeriodSeconds")
    propagation = str(body.get("propagationPolicy") or q.get("propagationPolicy") or "")
    if body.get("orphanDependents") is not None or q.get("orphanDependents"):
        orphan = body.get("orphanDependents")
        if orphan is None:
            orphan = q.get("orphanDependents", "").lower() == "true"
        if propagation and orphan:
            raise BadRequest("orphanDependents and propagationPolicy cannot both be set")
        propagation = propagation or ("Orphan" if orphan else "Background")
    if propagation and propagation not in _POLICIES:
        raise BadRequest(
            f'DeleteOptions.propagationPolicy: Unsupported value: "{propagation}": supported '
            'values: "Foreground", "Background", "Orphan"'
        )
    pre = body.get("preconditions") or {}
    dry = body.get("dryRun") or ([q["dryRun"]] if q.get("dryRun") else [])
    if any(d != "All" for d in dry):
        raise BadRequest(f'Invalid dry run value: "{dry}"; supported values: "All"')
    return DeleteOptions(
        grace_period=grace,
        propagation=propagation,
        uid=str(pre.get("uid") or ""),
        resource_version=str(pre.get("resourceVersion") or ""),
        dry_run=bool(dry),
    )


def _graceful_pod(obj: Obj) -> bool:
    spec = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    return bool(spec.get("nodeName")) and phase not in ("Succeeded", "Failed")


def _success(rt_kind: str, group: str, obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": meta["name"],
            "group": group,
            "kind": rt_kind,
            "uid": meta.get("uid", ""),
        },
    }


async def delete(ctx: ApiContext, req: ApiRequest, opts: DeleteOptions) -> Obj:
    """Delete (or mark) one object; the answer is the object, or a success Status."""
    rt = req.rt
    if not req.name:
        raise MethodNotAllowed(rt.plural, "DELETE", group=rt.group)
    for _ in range(_RETRIES):
        obj, kv = await ctx.objects.get_kv(rt, req.namespace, req.name)
        meta = obj["metadata"]
        if opts.uid and opts.uid != meta.get("uid"):
            raise Conflict(
                rt.plural,
                req.name,
                f"Precondition failed: UID in precondition: {opts.uid}, UID in object meta: "
                f"{meta.get('uid', '')}",
                group=rt.group,
            )
        if opts.resource_version and opts.resource_version != meta["resourceVersion"]:
            raise Conflict(
                rt.plural,
                req.name,
                "Precondition failed: ResourceVersion in precondition: "
                f"{opts.resource_version}, ResourceVersion in object meta: "
                f"{meta['resourceVersion']}",
                group=rt.group,
            )
        admit_write(None, obj)
        marked = _mark(ctx, rt.kind, obj, opts)
        if opts.dry_run:
            return marked or obj
        try:
            if marked is not None:
                if marked == obj:
                    return obj
                return await ctx.objects.update(rt, marked, kv.mod_revision)
            gone = await ctx.objects.delete(rt, obj, kv.mod_revision)
        except Conflict:
            continue
        except NotFound:
            raise
        return gone if rt.kind == "Pod" else _success(rt.plural, rt.group, gone)
    raise Conflict(rt.plural, req.name, group=rt.group)


def _mark(ctx: ApiContext, kind: str, obj: Obj, opts: DeleteOptions) -> Obj | None:
    """The object marked for deletion, or None when it can go now."""
    meta = obj["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if opts.propagation == "Foreground" and "foregroundDeletion" not in finalizers:
        finalizers.append("foregroundDeletion")
    elif opts.propagation == "Orphan" and "orphan" not in finalizers:
        finalizers.append("orphan")
    now = ctx.clock()
    graceful = False
    grace = opts.grace_period
    if kind == "Pod" and _graceful_pod(obj):
        if grace is None:
            grace = int((obj.get("spec") or {}).get("terminationGracePeriodSeconds") or 30)
        graceful = grace > 0
    ns_finalizers = kind == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))
    if not finalizers and not graceful and not ns_finalizers:
        return None
    marked = {**obj, "metadata": dict(meta)}
    m = marked["metadata"]
    if finalizers:
        m["finalizers"] = finalizers
    if not m.get("deletionTimestamp"):
        m["deletionTimestamp"] = rfc3339(now + dt.timedelta(seconds=grace or 0))
        m["deletionGracePeriodSeconds"] = grace or 0
    elif graceful and grace is not None and grace < int(m.get("deletionGracePeriodSeconds") or 0):
        m["deletionTimestamp"] = rfc3339(now + dt.timedelta(seconds=grace))
        m["deletionGracePeriodSeconds"] = grace
    if kind == "Namespace":
        marked["status"] = {**(obj.get("status") or {}), "phase": "Terminating"}
    return marked


async def delete_collection(ctx: ApiContext, req: ApiRequest, opts: DeleteOptions) -> Obj:
    listing = await list_objects(ctx, req)
    deleted = []
    for item in listing["items"]:
        one = ApiRequest(
            req.rt, item["metadata"].get("namespace", ""), item["metadata"]["name"], "", req.query
        )
        try:
            await delete(ctx, one, opts)
        except NotFound:
            continue
        deleted.append(item)
    listing["items"] = deleted
    return listing
