"""The `scale` subresource of custom resources: an autoscaling/v1 Scale read from and
written to the paths the CRD names (`specReplicasPath`, `statusReplicasPath`,
`labelSelectorPath`), for `kubectl scale` and autoscalers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from k3os.apiserver.context import ApiContext
from k3os.apiserver.customresources import custom_version, validate_write
from k3os.apiserver.errors import Conflict, FieldError, Invalid, MethodNotAllowed
from k3os.apiserver.negotiation import decode_body
from k3os.apiserver.patch import patch_object
from k3os.apiserver.registry import ResourceType
from k3os.apiserver.request import ApiRequest
from k3os.apiserver.writes import field_manager, persist_update

__all__ = ["handle_scale", "scale_of"]

Obj = dict[str, Any]


def _path(json_path: str) -> list[str]:
    return [p for p in json_path.split(".") if p]


def _read(obj: Any, json_path: str) -> Any:
    for key in _path(json_path):
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _write(obj: Obj, json_path: str, value: Any) -> None:
    keys = _path(json_path)
    for key in keys[:-1]:
        nxt = obj.get(key)
        if not isinstance(nxt, dict):
            nxt = obj[key] = {}
        obj = nxt
    obj[keys[-1]] = value


def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    scale = custom_version(rt).scale
    assert scale is not None
    meta = obj.get("metadata") or {}
    status: Obj = {"replicas": int(_read(obj, scale.status_replicas) or 0)}
    if scale.label_selector:
        selector = _read(obj, scale.label_selector)
        if isinstance(selector, str):
            status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": int(_read(obj, scale.spec_replicas) or 0)},
        "status": status,
    }


def _replicas(rt: ResourceType, scale: Any) -> int:
    value = (scale.get("spec") or {}).get("replicas") if isinstance(scale, Mapping) else None
    if value is None:
        value = 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid("Scale", "", [FieldError.invalid("spec.replicas", value,
                                                       "must be greater than or equal to 0")],
                      group="autoscaling")  # fmt: skip
    return value


async def handle_scale(
    ctx: ApiContext, req: ApiRequest, method: str, raw: bytes, content_type: str, user_agent: str
) -> Obj:
    """GET, PUT or PATCH of `<resource>/<name>/scale` (an autoscaling/v1 Scale)."""
    rt = req.rt
    if method == "GET":
        return scale_of(rt, await ctx.objects.get(rt, req.namespace, req.name))
    if method not in ("PUT", "PATCH"):
        raise MethodNotAllowed(f"{rt.plural}/scale", method, group=rt.group)
    body: Any = None
    if method == "PUT":
        body, _ = decode_body(raw, content_type)
    spec_path = custom_version(rt).scale.spec_replicas  # type: ignore[union-attr]

    async def mutate(current: Obj) -> Obj:
        wanted = body
        if method == "PATCH":
            wanted = patch_object(
                content_type, scale_of(rt, current), raw, api_version="autoscaling/v1", kind="Scale"
            )
        pinned = str(((wanted or {}).get("metadata") or {}).get("resourceVersion") or "")
        if pinned and pinned != current["metadata"]["resourceVersion"]:
            raise Conflict(rt.plural, req.name, group=rt.group)
        _write(current, spec_path, _replicas(rt, wanted))
        validate_write(rt, current, None)
        return current

    manager = field_manager(req, user_agent)
    return scale_of(rt, await persist_update(ctx, req, mutate, manager=manager))
