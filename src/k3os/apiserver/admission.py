"""The checks every write goes through before storage: schema, defaults, metadata rules,
the namespace's existence, and the finalizer bookkeeping of objects being deleted.

Shared by create, update, patch and the subresources, so a body is judged the same way
whichever verb carried it.
"""

from __future__ import annotations

from typing import Any

from k3os.apiserver.context import ApiContext
from k3os.apiserver.customresources import check_body as check_custom_body
from k3os.apiserver.defaults import apply_defaults
from k3os.apiserver.errors import BadRequest, FieldError, Forbidden, Invalid, NotFound
from k3os.apiserver.registry import ResourceType
from k3os.apiserver.request import ApiRequest
from k3os.apiserver.selectors import validate_label_selector
from k3os.apiserver.validation import check_object, raise_for

__all__ = ["check_body", "field_validation", "require_namespace"]

Obj = dict[str, Any]
_MODES = ("Strict", "Warn", "Ignore")


def field_validation(req: ApiRequest) -> str:
    mode = req.query.get("fieldValidation") or "Warn"
    if mode not in _MODES:
        raise BadRequest(
            f"fieldValidation parameter unsupported: {mode}; use one of Ignore, Warn, Strict"
        )
    return mode


def _check_type(rt: ResourceType, body: Any, expect_kind: str, expect_gv: str) -> None:
    if not isinstance(body, dict):
        raise BadRequest(f"the body of a {expect_kind} request must be a JSON object")
    kind = body.get("kind")
    gv = body.get("apiVersion")
    if kind not in (None, "") and kind != expect_kind:
        raise BadRequest(
            f"the API version in the data ({gv}) does not match the expected API version "
            f"({expect_gv})"
            if gv not in (None, "", expect_gv)
            else f'Object kind "{kind}" does not match the kind "{expect_kind}" of this resource'
        )
    if gv not in (None, "") and gv != expect_gv:
        raise BadRequest(
            f"the API version in the data ({gv}) does not match the expected API version "
            f"({expect_gv})"
        )


def check_body(
    ctx: ApiContext, req: ApiRequest, body: Any, *, definition: str = "", kind: str = "",
    stored: Obj | None = None,
) -> tuple[Obj, list[str]]:  # fmt: skip
    """Type-check, prune and default `body`; the pruned object and warnings to send.
    `stored`: the object `body` replaces; the parts `body` keeps unchanged from it were
    checked when it was written and are not walked again."""
    rt = req.rt
    if rt.custom is not None:  # a CRD-defined kind: its structural schema decides
        return check_custom_body(req, body, field_validation(req))
    kind = kind or rt.kind
    gv = rt.group_version
    if definition and definition != rt.definition:
        sub = rt.subresource(req.subresource)
        gv = f"{sub.group}/{sub.version}" if sub and sub.group else gv
    _check_type(rt, body, kind, gv)
    own = not definition or definition == rt.definition
    checked = check_object(
        ctx.definitions, definition or rt.definition, body, stored if own else None
    )
    name = str((body.get("metadata") or {}).get("name") or req.name)
    warnings = raise_for(
        checked,
        kind=kind,
        name=name,
        group=rt.group,
        version=rt.version,
        mode=field_validation(req),
    )
    obj: Obj = checked.obj
    labels = (obj.get("metadata") or {}).get("labels")
    if isinstance(labels, dict) and labels and own:
        labels = _new_labels(labels, stored)
    if isinstance(labels, dict) and labels:
        errors = validate_label_selector({"matchLabels": labels}, "metadata")
        if errors:
            fixed = [FieldError(e.type, e.field.replace("metadata.matchLabels", "metadata.labels"),
                                e.value, e.detail) for e in errors]  # fmt: skip
            raise Invalid(kind, name, fixed, group=rt.group)
    if not definition or definition == rt.definition:
        apply_defaults(rt.group, rt.kind, obj)
    return obj, warnings


def _new_labels(labels: dict[str, Any], stored: Obj | None) -> dict[str, Any]:
    """The labels that `stored` (checked when it was written) does not hold as they are:
    a label is judged by its key and value alone."""
    known = ((stored or {}).get("metadata") or {}).get("labels")
    if not isinstance(known, dict) or not known:
        return labels
    return {k: v for k, v in labels.items() if k not in known or known[k] != v}


def _active(ns: Obj) -> bool:
    return (ns.get("status") or {}).get("phase") != "Terminating" and not ns["metadata"].get(
        "deletionTimestamp"
    )


async def require_namespace(ctx: ApiContext, rt: ResourceType, namespace: str) -> None:
    """Namespaced objects go only into namespaces that exist and are not terminating."""
    if not rt.namespaced:
        return
    ns_type = ctx.registry.lookup("", "v1", "namespaces")
    assert ns_type is not None
    # As the upstream lifecycle admission, a namespace known to be there and active (the
    # store's recent item, kept current by its event stream) needs no read; anything else
    # is read.
    known = ctx.objects.recent_kv(ns_type, "", namespace)
    if known is not None and _active(known[0]):
        return
    try:
        ns = await ctx.objects.get(ns_type, "", namespace)
    except NotFound:
        raise NotFound("namespaces", namespace) from None
    if not _active(ns):
        raise Forbidden(
            f"unable to create new content in namespace {namespace} because it is being terminated",
            resource=rt.plural,
            group=rt.group,
        )
