"""Answer shapes a client may ask for instead of the object: Table (kubectl's columns,
from tables.py) and PartialObjectMetadata (metadata only).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from k3os.apiserver.errors import NotAcceptable
from k3os.apiserver.negotiation import Wanted
from k3os.apiserver.registry import ResourceType
from k3os.apiserver.tables import build_table, printer_for

__all__ = ["render_list", "render_object"]

Obj = dict[str, Any]
_TABLE_VERSIONS = ("v1", "v1beta1")


def _table(rt: ResourceType, objs: list[Obj], list_meta: Obj, wanted: Wanted, now: dt.datetime,
           include: str, no_headers: bool = False) -> Obj:  # fmt: skip
    if wanted.version not in _TABLE_VERSIONS:
        raise NotAcceptable(["application/json;as=Table;v=v1;g=meta.k8s.io"])
    table = build_table(
        objs,
        rt.custom.printer if rt.custom is not None else printer_for(rt.group, rt.plural),
        now=now,
        include_object=include or "Metadata",
        list_metadata=list_meta,
        no_headers=no_headers,
    )
    table["apiVersion"] = f"meta.k8s.io/{wanted.version}"
    return table


def _partial(obj: Obj, version: str) -> Obj:
    return {
        "apiVersion": f"meta.k8s.io/{version or 'v1'}",
        "kind": "PartialObjectMetadata",
        "metadata": obj.get("metadata") or {},
    }


def render_object(rt: ResourceType, obj: Obj, wanted: Wanted, now: dt.datetime,
                  include: str = "", *, watching: bool = False) -> Obj:  # fmt: skip
    """`obj` as asked; watch events after the first carry Tables without headers."""
    if wanted.as_kind == "Table":
        meta = {"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion", "")}
        return _table(rt, [obj], meta, wanted, now, include, no_headers=watching)
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
