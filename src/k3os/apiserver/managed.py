"""managedFields for the server's writes: which schema a kind's field sets are taken
over, and which top-level fields each endpoint ignores.

The field-set algebra itself is apply.py's; this module is the glue the verbs call.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from k3os.apiserver.apply import server_side_apply, update_managed_fields
from k3os.apiserver.fieldschema import UNTYPED, Node, builtin_root, custom_resource_root
from k3os.apiserver.registry import ResourceType

__all__ = ["apply_config", "record_update", "schema_root"]

Obj = dict[str, Any]


@functools.cache
def schema_root(api_version: str, kind: str) -> Node:
    return builtin_root(api_version, kind) or UNTYPED


_CUSTOM_ROOTS: dict[int, tuple[Any, Node]] = {}
"""The root node of each CRD version's schema seen, by the schema's identity (a CRD's
update brings a new schema object)."""


def _root(rt: ResourceType) -> Node:
    if rt.custom is not None:  # a CRD-defined kind: list and map types from its schema
        schema = rt.custom.schema
        kept = _CUSTOM_ROOTS.get(id(schema))
        if kept is None or kept[0] is not schema:
            if len(_CUSTOM_ROOTS) >= 256:
                _CUSTOM_ROOTS.clear()  # CRDs changed that often: start again
            kept = _CUSTOM_ROOTS[id(schema)] = (schema, custom_resource_root(schema))
        return kept[1]
    return schema_root(rt.group_version, rt.kind)


def _reset_fields(rt: ResourceType, subresource: str) -> tuple[str, ...]:
    if subresource == "status":
        return ("spec",)
    return ("status",) if rt.has_status() else ()


def record_update(
    rt: ResourceType, obj: Obj, old: Obj | None, manager: str, now: dt.datetime,
    subresource: str = "", *, owned: bool = False,
) -> Obj:  # fmt: skip
    """`obj` with `manager`'s Update entry refreshed in its managedFields (`owned`: `obj`
    is the caller's to give away, and is changed in place rather than copied)."""
    return update_managed_fields(
        old,
        obj,
        manager=manager,
        root=_root(rt),
        api_version=rt.group_version,
        now=now,
        subresource=subresource,
        reset_fields=_reset_fields(rt, subresource),
        owned=owned,
    )


def _default_list_keys(rt: ResourceType, config: Any) -> Any:
    """Fill list-map key fields that have a schema default (a container port's
    `protocol`), so an applied item matches the live one defaulting already completed."""
    if rt.group or rt.kind != "Pod" or not isinstance(config, dict):
        return config
    spec = config.get("spec")
    if not isinstance(spec, dict):
        return config
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or ():
            for port in (container.get("ports") or ()) if isinstance(container, dict) else ():
                if isinstance(port, dict) and "protocol" not in port:
                    port["protocol"] = "TCP"
    return config


def apply_config(
    rt: ResourceType, live: Obj | None, config: Any, manager: str, now: dt.datetime, *,
    force: bool, subresource: str = "",
) -> Obj:  # fmt: skip
    """Server-side apply of `config` by `manager` onto `live` (None: a create)."""
    return server_side_apply(
        live,
        _default_list_keys(rt, config),
        manager=manager,
        root=_root(rt),
        now=now,
        force=force,
        subresource=subresource,
        reset_fields=_reset_fields(rt, subresource),
    )
