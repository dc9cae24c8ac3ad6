"""Server-side apply and the managedFields bookkeeping of ordinary writes.

Each ``metadata.managedFields`` entry says which fields one manager owns, per operation
(``Apply`` or ``Update``) and subresource. An ordinary write (create, update, patch)
gives its manager the fields it changed and takes them from everyone else. An apply
(``application/apply-patch+yaml``) merges the applied configuration into the live object
by the schema's list and map types, refuses to change fields another manager owns unless
``force`` is set (409 with one cause per field), makes the applier own exactly what it
applied, and removes what it applied before but no longer does, unless someone else
still owns it.

    APIError
    ├── PatchError (400)     the configuration or the managedFields are malformed
    └── ApplyConflict (409)  fields owned by other managers would change
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from k3os.apiserver.errors import ApplyConflict, ManagerConflict
from k3os.apiserver.fieldpath import (
    FieldsError,
    Path,
    decode_fields,
    encode_fields,
    field_changes,
    field_values,
    get_path,
    item_element,
    path_string,
    remove_path,
)
from k3os.apiserver.fieldschema import Node
from k3os.apiserver.jsoncopy import deep_copy
from k3os.apiserver.patch import PatchError

__all__ = [
    "ManagedEntry",
    "decode_managed_fields",
    "encode_managed_fields",
    "server_side_apply",
    "update_managed_fields",
]

Operation = Literal["Apply", "Update"]

# Fields nobody owns: identity and server-maintained metadata (as upstream strips them).
_UNTRACKED: frozenset[Path] = frozenset(
    [
        ("f:apiVersion",),
        ("f:kind",),
        ("f:metadata",),
        *(
            ("f:metadata", f"f:{name}")
            for name in (
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "generation",
                "managedFields",
                "resourceVersion",
            )
        ),
    ]
)


@dataclass
class ManagedEntry:
    """One managedFields entry with its fields decoded into paths."""

    manager: str
    operation: Operation
    api_version: str = ""
    time: str = ""
    subresource: str = ""
    fields: set[Path] = field(default_factory=set)

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def label(self) -> str:
        """How conflict messages name this manager (as upstream prints it)."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


def _timestamp(now: dt.datetime | str) -> str:
    if isinstance(now, str):
        return now
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_managed_fields(entries: Any) -> list[ManagedEntry]:
    """Parse ``metadata.managedFields``; :class:`PatchError` names the bad entry."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise PatchError("metadata.managedFields must be a list")
    out: list[ManagedEntry] = []
    for i, raw in enumerate(entries):
        where = f"metadata.managedFields[{i}]"
        if not isinstance(raw, Mapping):
            raise PatchError(f"{where} must be an object")
        operation = raw.get("operation", "Update")
        if operation not in ("Apply", "Update"):
            raise PatchError(f'{where}.operation: Unsupported value: "{operation}"')
        fields_type = raw.get("fieldsType", "FieldsV1")
        if fields_type != "FieldsV1":
            raise PatchError(f'{where}.fieldsType: Unsupported value: "{fields_type}"')
        try:
            fields = decode_fields(raw.get("fieldsV1") or {})
        except FieldsError as e:
            raise PatchError(f"{where}.fieldsV1: {e}") from e
        out.append(
            ManagedEntry(
                manager=str(raw.get("manager", "")),
                operation=operation,
                api_version=str(raw.get("apiVersion", "")),
                time=str(raw.get("time", "")),
                subresource=str(raw.get("subresource", "")),
                fields=fields,
            )
        )
    return out


def encode_managed_fields(entries: Iterable[ManagedEntry]) -> list[dict[str, Any]]:
    """The wire form, without empty entries, in upstream order (Apply before Update,
    then by time, manager, apiVersion and subresource)."""
    kept = sorted(
        (e for e in entries if e.fields),
        key=lambda e: (e.operation, e.time, e.manager, e.api_version, e.subresource),
    )
    out = []
    for e in kept:
        entry: dict[str, Any] = {
            "manager": e.manager,
            "operation": e.operation,
            "apiVersion": e.api_version,
        }
        if e.time:
            entry["time"] = e.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = encode_fields(e.fields)
        if e.subresource:
            entry["subresource"] = e.subresource
        out.append(entry)
    return out


def _tracked(obj: Any, root: Node, reset_fields: Collection[str]) -> dict[Path, Any]:
    values = field_values(obj, root)
    return {
        p: v
        for p, v in values.items()
        if p not in _UNTRACKED and not (p and p[0][2:] in reset_fields and p[0][:2] == "f:")
    }


def _tracked_path(path: Path) -> bool:
    return path not in _UNTRACKED


def _changes(
    old: Any, new: Any, root: Node, reset_fields: Collection[str]
) -> tuple[set[Path], set[Path]]:
    """(changed, removed): tracked paths added or given a new leaf value, and paths gone
    (only the fields that differ are walked)."""
    return field_changes(old, new, root, _tracked_path, reset_fields)


def _entry(
    entries: list[ManagedEntry], manager: str, operation: Operation, subresource: str
) -> ManagedEntry:
    for e in entries:
        if e.ident == (manager, operation, subresource):
            return e
    e = ManagedEntry(manager, operation, subresource=subresource)
    entries.append(e)
    return e


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def _owns(trie: Any, path: Path) -> bool:
    """Whether a ``fieldsV1`` trie holds ``path`` as a member (as `decode_fields` reads it)."""
    for element in path:
        trie = trie.get(element) if isinstance(trie, Mapping) else None
        if trie is None:
            return False
    return isinstance(trie, Mapping) and (not trie or "." in trie)


def _order(raw: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(raw.get(k, d)) for k, d in _ORDER)


_ORDER = (("operation", "Update"), ("time", ""), ("manager", ""), ("apiVersion", ""),
          ("subresource", ""))  # fmt: skip


def _same_owners(
    live: Any, manager: str, subresource: str, changed: set[Path], removed: set[Path],
    api_version: str, now: dt.datetime | str,
) -> list[dict[str, Any]] | None:  # fmt: skip
    """The stored managedFields after an ordinary write that moves no field between
    owners (the writer already owns every field it changed, and nobody owns one it
    removed): the same entries, the writer's with a new time and apiVersion. None when
    ownership changes, or the entries are not the well-formed ones the server stores:
    then they are decoded and encoded in full."""
    if not isinstance(live, list) or not all(isinstance(e, Mapping) for e in live):
        return None
    ours = None
    for raw in live:
        trie = raw.get("fieldsV1")
        if raw.get("fieldsType", "FieldsV1") != "FieldsV1" or not isinstance(trie, Mapping):
            return None
        mine = (raw.get("manager"), raw.get("operation", "Update"), raw.get("subresource", ""))
        if mine == (manager, "Update", subresource):
            if ours is not None:  # a duplicate entry: the full path decides
                return None
            ours = raw
        if any(_owns(trie, p) for p in removed):
            return None
        if raw is not ours and any(_owns(trie, p) for p in changed):
            return None
    if ours is None or not all(_owns(ours["fieldsV1"], p) for p in changed):
        return None
    if not changed:
        return list(live)
    entry: dict[str, Any] = {"manager": manager, "operation": "Update",
                             "apiVersion": api_version, "time": _timestamp(now),
                             "fieldsType": "FieldsV1", "fieldsV1": ours["fieldsV1"]}  # fmt: skip
    if subresource:
        entry["subresource"] = subresource
    entries = [entry if raw is ours else raw for raw in live]
    return sorted(entries, key=_order)


def _move_fields(
    entries: Iterable[ManagedEntry], ours: ManagedEntry, changed: set[Path], removed: set[Path],
    api_version: str, now: dt.datetime | str,
) -> None:  # fmt: skip
    """An ordinary write's bookkeeping: the removed fields leave every entry, the changed
    ones leave the others for the writer's (`ours`), which takes the write's time."""
    for e in entries:
        e.fields -= removed
        if e is not ours:
            e.fields -= changed
    ours.fields |= changed
    if changed:
        ours.api_version = api_version
        ours.time = _timestamp(now)


def _touched_only(
    live: Any, manager: str, subresource: str, changed: set[Path], removed: set[Path],
    api_version: str, now: dt.datetime | str,
) -> list[dict[str, Any]] | None:  # fmt: skip
    """The stored managedFields after an ordinary write that moves fields between owners,
    decoding only the entries it touches: the writer's, and those that own a field it
    changed or removed. The others (a node agent's status entry, the largest, on a
    controller's annotation write) are kept as stored. The result is the full path's,
    entry for entry and in the same order; None when the entries are not the well-formed
    ones the server stores."""
    if not isinstance(live, list) or not all(isinstance(e, Mapping) for e in live):
        return None
    touched: list[Mapping[str, Any]] = []
    for raw in live:
        trie = raw.get("fieldsV1")
        if (
            raw.get("fieldsType", "FieldsV1") != "FieldsV1"
            or raw.get("operation", "Update") not in ("Apply", "Update")
            or not isinstance(trie, Mapping)
            or not trie  # an empty entry: the full path drops it
        ):
            return None
        mine = (raw.get("manager"), raw.get("operation", "Update"), raw.get("subresource", ""))
        if mine == (manager, "Update", subresource) or any(
            _owns(trie, p) for p in (*removed, *changed)
        ):
            touched.append(raw)
    try:
        decoded = decode_managed_fields(touched)
    except PatchError:
        return None  # the full path names the entry
    by_raw = {id(raw): entry for raw, entry in zip(touched, decoded, strict=True)}
    entries: list[ManagedEntry | Mapping[str, Any]] = [by_raw.get(id(raw)) or raw for raw in live]
    ours = _entry(decoded, manager, "Update", subresource)
    if len(decoded) > len(touched):
        entries.append(ours)  # the writer's first write on this object
    _move_fields(decoded, ours, changed, removed, api_version, now)
    out: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    for item in entries:
        if isinstance(item, ManagedEntry):
            out.extend((_order(wire), wire) for wire in encode_managed_fields([item]))
        else:
            out.append((_order(item), dict(item)))
    out.sort(key=lambda item: item[0])
    return [wire for _, wire in out]


def update_managed_fields(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    manager: str,
    root: Node,
    api_version: str,
    now: dt.datetime | str,
    subresource: str = "",
    reset_fields: Collection[str] = (),
    owned: bool = False,
) -> dict[str, Any]:
    """``new`` (a copy, or ``new`` itself when it is ``owned``: the caller gives it away)
    with managedFields recording an ordinary write by ``manager``.

    Managed fields sent in ``new`` replace the live ones when they are a non-empty list
    (``[{}]`` clears them); otherwise the live ones are kept. ``reset_fields`` are
    top-level fields this endpoint ignores (``status`` on the main resource). The entries
    kept as they were are ``old``'s own objects, in a new list: neither object's entries
    are changed in place afterwards (the write path only compares and encodes them).
    """
    result = dict(new) if owned else deep_copy(dict(new))
    sent = (result.get("metadata") or {}).get("managedFields")
    live = (old or {}).get("metadata", {}).get("managedFields")
    changed, removed = _changes(old or {}, result, root, reset_fields)
    if not sent or sent == live:
        same = _same_owners(live, manager, subresource, changed, removed, api_version, now)
        if same is None:
            same = _touched_only(live, manager, subresource, changed, removed, api_version, now)
        if same is not None:
            _metadata(result)["managedFields"] = same
            return result
    entries = decode_managed_fields(sent if sent else live)
    ours = _entry(entries, manager, "Update", subresource)
    _move_fields(entries, ours, changed, removed, api_version, now)
    _metadata(result)["managedFields"] = encode_managed_fields(entries)
    return result


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _merge(live: Any, config: Any, node: Node) -> Any:
    """Merge an applied value into the live one by the schema's list and map types."""
    if node.kind == "list" and isinstance(live, list) and isinstance(config, list):
        if node.list_type == "atomic":
            return deep_copy(config)
        result = deep_copy(live)
        ids = [item_element(item, node, i) for i, item in enumerate(result)]
        for i, item in enumerate(config):
            ident = item_element(item, node, i)
            if ident.startswith("i:"):
                return deep_copy(config)  # elements without keys cannot be merged
            if ident in ids:
                at = ids.index(ident)
                if node.list_type == "map":
                    result[at] = _merge(result[at], item, node.item())
            else:
                result.append(deep_copy(item))
                ids.append(ident)
        return result
    if (
        isinstance(live, dict)
        and isinstance(config, dict)
        and node.kind in ("struct", "map", "any")
        and not node.atomic
    ):
        merged = deep_copy(live)
        for key, value in config.items():
            child = node.field(key)
            merged[key] = _merge(merged[key], value, child) if key in merged else deep_copy(value)
        return merged
    return deep_copy(config)


def _check_config(config: Any, manager: str) -> dict[str, Any]:
    if not manager:
        raise PatchError("fieldManager is required for apply requests")
    if not isinstance(config, dict):
        raise PatchError("apply patch must be an object")
    meta = config.get("metadata")
    if isinstance(meta, Mapping) and meta.get("managedFields") is not None:
        raise PatchError("metadata.managedFields must be nil")
    return config


def server_side_apply(
    live: Mapping[str, Any] | None,
    config: Any,
    *,
    manager: str,
    root: Node,
    now: dt.datetime | str,
    force: bool = False,
    subresource: str = "",
    reset_fields: Collection[str] = (),
) -> dict[str, Any]:
    """The object after ``manager`` applies ``config`` to ``live`` (``None``: create).

    Raises :class:`ApplyConflict` when fields owned by other managers would change and
    ``force`` is false; with ``force`` the applier takes them over.
    """
    config = _strip_nulls(_check_config(config, manager))
    config = {k: v for k, v in config.items() if k not in reset_fields}
    live_obj = deep_copy(dict(live or {}))
    entries = decode_managed_fields((live_obj.get("metadata") or {}).get("managedFields"))
    merged: dict[str, Any] = _merge(live_obj, config, root)
    changed, _ = _changes(live_obj, merged, root, reset_fields)
    ours = _entry(entries, manager, "Apply", subresource)
    conflicts = [
        ManagerConflict(e.label(), path_string(p))
        for e in entries
        if e is not ours
        for p in sorted(e.fields & changed)
    ]
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    for e in entries:
        if e is not ours:
            e.fields -= changed
    applied = set(_tracked(config, root, reset_fields))
    previously = ours.fields
    ours.fields = applied
    ours.api_version = str(config.get("apiVersion", ""))
    ours.time = _timestamp(now)
    others = [e.fields for e in entries if e is not ours]
    kept = set().union(*others) if others else set()
    kept_prefixes = {p[:i] for p in kept | applied for i in range(1, len(p) + 1)}
    for path in sorted(previously - applied, key=len):
        if path not in kept_prefixes and remove_path(merged, path):
            _drop_emptied_parents(merged, path[:-1], kept_prefixes)
    _metadata(merged)["managedFields"] = encode_managed_fields(entries)
    return merged


def _drop_emptied_parents(obj: dict[str, Any], path: Path, owned: set[Path]) -> None:
    """After a prune, drop maps and lists left empty that nobody owns or applies."""
    while path and path not in owned:
        found, value = get_path(obj, path)
        if not found or value not in ({}, []):
            return
        remove_path(obj, path)
        path = path[:-1]
