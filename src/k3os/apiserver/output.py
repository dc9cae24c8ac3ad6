"""Answer shapes a client may ask for instead of the object: Table (kubectl's columns) and
PartialObjectMetadata (metadata only).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from k3os.apiserver.errors import NotAcceptable
from k3os.apiserver.negotiation import Wanted
from k3os.apiserver.registry import ResourceType

__all__ = ["render_list", "render_object"]

Obj = dict[str, Any]
_TABLE_VERSIONS = ("v1", "v1beta1")


def _table(rt: ResourceType, objs: list[Obj], list_meta: Obj, wanted: Wanted, now: dt.datetime,
           include: str) -> Obj:  # fmt: skip
    if wanted.version not in _TABLE_VERSIONS:
        raise NotAcceptable(["application/json;as=Table;v=v1;g=meta.k8s.io"])
    table = _generic_table(objs, now, include or "Metadata")
    table["apiVersion"] = f"meta.k8s.io/{wanted.version}"
    table["metadata"] = list_meta
    return table


def _age(created: str, now: dt.datetime) -> str:
    try:
        when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = int((now - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _generic_table(objs: list[Obj], now: dt.datetime, include: str) -> Obj:
    rows = []
    for obj in objs:
        meta = obj.get("metadata") or {}
        row: Obj = {"cells": [meta.get("name", ""), _age(meta.get("creationTimestamp", ""), now)]}
        if include == "Object":
            row["object"] = obj
        elif include == "Metadata":
            row["object"] = _partial(obj, "v1")
        rows.append(row)
    return {
        "kind": "Table",
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name",
             "priority": 0},
            {"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0},
        ],
        "rows": rows,
    }  # fmt: skip


def _partial(obj: Obj, version: str) -> Obj:
    return {
        "apiVersion": f"meta.k8s.io/{version or 'v1'}",
        "kind": "PartialObjectMetadata",
        "metadata": obj.get("metadata") or {},
    }


def render_object(
    rt: ResourceType, obj: Obj, wanted: Wanted, now: dt.datetime, include: str = ""
) -> Obj:
    if wanted.as_kind == "Table":
        meta = {"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion", "")}
        return _table(rt, [obj], meta, wanted, now, include)
    if wanted.as_kind.startswith("PartialObjectMetadata"):
        return _partial(obj, wanted.version)
    return obj


def render_list(rt: ResourceType, listing: Obj, wanted: Wanted, now: dt.datetime,
                include: str = "") -> Obj:  # fmt: skip
    if wanted.as_kind == "Table":
        return _table(rt, listing["items"], listing["metadata"], wanted, now, include)
    if wanted.as_kind.startswith("PartialObjectMetadata"):
        return {
            "apiVersion": f"meta.k8s.io/{wanted.version or 'v1'}",
            "kind": "PartialObjectMetadataList",
            "metadata": listing["metadata"],
            "items": [_partial(o, wanted.version) for o in listing["items"]],
        }
    return listing
