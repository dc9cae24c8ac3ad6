"""Field paths and sets as server-side apply tracks them (``metadata.managedFields``).

A path is a tuple of elements spelled as in ``fieldsV1``: ``f:<field>`` for a struct or
map field, ``k:{"name":"c"}`` for an element of a list keyed by its map keys,
``v:"x"`` for an element of a set, ``i:3`` for a position. :func:`field_values` lists
the paths an object sets, following its schema the way upstream does: fields of a
struct are not members themselves (only what they hold), entries of a granular map
and elements of a keyed list are, and atomic values are single leaves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from k3os.apiserver.fieldschema import Node

__all__ = [
    "FieldsError",
    "Path",
    "decode_fields",
    "encode_fields",
    "field_changes",
    "field_values",
    "get_path",
    "path_string",
    "remove_path",
]

Path = tuple[str, ...]


class FieldsError(ValueError):
    """A ``fieldsV1`` document that is not a well-formed trie of path elements."""


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


# Key fields upstream defaults when they are left out, so that an applied element
# without them still matches the stored (defaulted) element.
_KEY_DEFAULTS = {"protocol": "TCP"}


def _key_fields(item: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    found = {}
    for k in keys:
        if k in item:
            found[k] = item[k]
        elif k in _KEY_DEFAULTS:
            found[k] = _KEY_DEFAULTS[k]
    return found


def item_element(item: Any, node: Node, index: int) -> str:
    """The path element of a list element (``k:``, ``v:`` or ``i:``)."""
    if node.list_type == "map" and isinstance(item, Mapping):
        # Defaults complete a key; they cannot make one up on their own.
        keys = _key_fields(item, node.keys) if any(k in item for k in node.keys) else {}
        if keys:
            return "k:" + _compact(keys)
    if node.list_type == "set":
        return "v:" + _compact(item)
    return f"i:{index}"


def field_values(obj: Any, node: Node) -> dict[Path, Any]:
    """Every path ``obj`` sets, with the value found there."""
    out: dict[Path, Any] = {}
    if isinstance(obj, Mapping):
        _walk_map(obj, node, (), out)
    return out


def _walk(value: Any, node: Node, path: Path, out: dict[Path, Any]) -> None:
    if node.kind == "list" and isinstance(value, list) and node.list_type != "atomic":
        for i, item in enumerate(value):
            here = (*path, item_element(item, node, i))
            out[here] = item
            if node.list_type == "map" and isinstance(item, Mapping):
                _walk_map(item, node.item(), here, out)
        return
    if isinstance(value, Mapping) and node.kind in ("struct", "map", "any") and not node.atomic:
        _walk_map(value, node, path, out)
        return
    out[path] = value


def _walk_map(value: Mapping[str, Any], node: Node, path: Path, out: dict[Path, Any]) -> None:
    declared = node.fields if node.kind == "struct" else {}
    for key, child in value.items():
        here = (*path, f"f:{key}")
        _walk(child, node.field(key), here, out)
        if child is None or child == {} or key not in declared:
            out[here] = child


def _field_paths(
    parent: Mapping[str, Any], key: str, node: Node, path: Path, keep: Callable[[Path], bool]
) -> dict[Path, Any]:
    """What `_walk_map` records for one field of `parent`, the paths `keep` accepts."""
    out: dict[Path, Any] = {}
    here = (*path, f"f:{key}")
    child = parent[key]
    _walk(child, node.field(key), here, out)
    if child is None or child == {} or key not in (node.fields if node.kind == "struct" else {}):
        out[here] = child
    return {p: v for p, v in out.items() if keep(p)}


def _walks_as_map(value: Any, node: Node) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and node.kind in ("struct", "map", "any")
        and not node.atomic
    )


def field_changes(
    old: Any, new: Any, node: Node, keep: Callable[[Path], bool], skip: Iterable[str] = ()
) -> tuple[set[Path], set[Path]]:
    """(changed, removed) from `old` to `new`: the paths `new` sets that `old` does not or
    whose leaf value differs, and the paths only `old` sets; counting only paths `keep`
    accepts, and no top-level field in `skip`.

    The same answer as comparing the two objects' `field_values`, but a field equal in
    both is passed over without being walked, so a write that changes one condition of
    a large status costs about that condition.
    """
    changed: set[Path] = set()
    removed: set[Path] = set()
    a = old if isinstance(old, Mapping) else {}
    b = new if isinstance(new, Mapping) else {}
    _diff_map(a, b, node, (), keep, frozenset(skip), changed, removed)
    return changed, removed


def _diff_map(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    node: Node,
    path: Path,
    keep: Callable[[Path], bool],
    skip: frozenset[str],
    changed: set[Path],
    removed: set[Path],
) -> None:
    for key, a in old.items():
        if key in skip:
            continue
        if key not in new:
            removed.update(_field_paths(old, key, node, path, keep))
            continue
        b = new[key]
        if a == b:  # equal subtrees set equal paths to equal values
            continue
        child = node.field(key)
        if (
            isinstance(a, list)
            and isinstance(b, list)
            and key in (node.fields if node.kind == "struct" else {})
            and _diff_list(a, b, child, (*path, f"f:{key}"), keep, changed, removed)
        ):
            continue
        if _walks_as_map(a, child) and _walks_as_map(b, child):
            here = (*path, f"f:{key}")
            _diff_map(a, b, child, here, keep, frozenset(), changed, removed)
            declared = node.fields if node.kind == "struct" else {}
            if key not in declared and keep(here):
                # `here` is a member of both with differing values: changed only as a
                # leaf, when no path below it is set on either side.
                below = {p for p in _field_paths(old, key, node, path, keep) if p != here}
                if not below and not any(
                    p != here for p in _field_paths(new, key, node, path, keep)
                ):
                    changed.add(here)
            continue
        before = _field_paths(old, key, node, path, keep)
        _compare_into(before, _field_paths(new, key, node, path, keep), changed, removed)
    for key in new:
        if key not in old and key not in skip:
            changed.update(_field_paths(new, key, node, path, keep))


def _item_paths(item: Any, node: Node, here: Path, keep: Callable[[Path], bool]) -> dict[Path, Any]:
    """What `_walk` records for one element of a keyed or set list."""
    out: dict[Path, Any] = {here: item}
    if node.list_type == "map" and isinstance(item, Mapping):
        _walk_map(item, node.item(), here, out)
    return {p: v for p, v in out.items() if keep(p)}


def _below(item: Mapping[str, Any], node: Node, here: Path, keep: Callable[[Path], bool]) -> bool:
    """Whether walking a keyed element (of schema `node`) records any path below `here`: a
    scalar, null or empty-map field always does; else the element is walked."""
    for key, value in item.items():
        if (value is None or value == {} or not isinstance(value, dict | list)) and keep(
            (*here, f"f:{key}")
        ):
            return True
    out: dict[Path, Any] = {}
    _walk_map(item, node, here, out)
    return any(p != here and keep(p) for p in out)


def _compare_into(
    before: dict[Path, Any], after: dict[Path, Any], changed: set[Path], removed: set[Path]
) -> None:
    parents = {p[:i] for p in (*before, *after) for i in range(len(p))}
    for p, value in after.items():
        if p not in before or (p not in parents and before[p] != value):
            changed.add(p)
    removed.update(p for p in before if p not in after)


def _diff_list(
    old: list[Any],
    new: list[Any],
    node: Node,
    path: Path,
    keep: Callable[[Path], bool],
    changed: set[Path],
    removed: set[Path],
) -> bool:
    """Diff a keyed or set list element by element (equal elements passed over); False,
    having done nothing, when it is another list or an element is named twice or by its
    position (the caller then compares the whole list)."""
    if node.kind != "list" or node.list_type == "atomic":
        return False
    before = {item_element(item, node, i): item for i, item in enumerate(old)}
    after = {item_element(item, node, i): item for i, item in enumerate(new)}
    if len(before) != len(old) or len(after) != len(new):
        return False
    if any(e.startswith("i:") for e in (*before, *after)):
        return False
    for element, item in before.items():
        here = (*path, element)
        if element not in after:
            removed.update(_item_paths(item, node, here, keep))
        elif after[element] != item:
            other = after[element]
            if (
                node.list_type == "map"
                and _walks_as_map(item, node.item())
                and (_walks_as_map(other, node.item()))
            ):
                # Both set the element, to differing values: below it field by field; the
                # element itself changes only as a leaf (nothing set below it).
                _diff_map(item, other, node.item(), here, keep, frozenset(), changed, removed)
                inner = node.item()
                if (
                    keep(here)
                    and not _below(item, inner, here, keep)
                    and not _below(other, inner, here, keep)
                ):
                    changed.add(here)
                continue
            mine = _item_paths(item, node, here, keep)
            _compare_into(mine, _item_paths(other, node, here, keep), changed, removed)
    for element, item in after.items():
        if element not in before:
            changed.update(_item_paths(item, node, (*path, element), keep))
    return True


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    """The ``fieldsV1`` trie of a set of paths (``.`` marks a member with children)."""
    members = set(paths)
    trie: dict[str, Any] = {}
    for path in members:
        node = trie
        for element in path:
            node = node.setdefault(element, {})
    return _sorted_trie(trie, members, ())


def _sorted_trie(trie: dict[str, Any], members: set[Path], path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if trie and path in members and path:
        out["."] = {}
    for element in sorted(trie):
        out[element] = _sorted_trie(trie[element], members, (*path, element))
    return out


def decode_fields(trie: Any) -> set[Path]:
    """The paths of a ``fieldsV1`` trie; :class:`FieldsError` when it is malformed."""
    out: set[Path] = set()
    if not isinstance(trie, Mapping):
        raise FieldsError(f"fieldsV1 must be an object, got {type(trie).__name__}")
    _decode(trie, (), out)
    return out


def _decode(trie: Mapping[str, Any], path: Path, out: set[Path]) -> None:
    for element, sub in trie.items():
        if not isinstance(sub, Mapping):
            raise FieldsError(f"fieldsV1 entry {element!r} must be an object")
        if element == ".":
            out.add(path)
            continue
        if element[:2] not in ("f:", "k:", "v:", "i:"):
            raise FieldsError(f"fieldsV1 key {element!r} is not a path element")
        if element[:2] in ("k:", "v:"):
            try:
                json.loads(element[2:])
            except ValueError as e:
                raise FieldsError(f"fieldsV1 key {element!r} holds invalid JSON") from e
        here = (*path, element)
        if sub:
            _decode(sub, here, out)
        else:
            out.add(here)


def path_string(path: Path) -> str:
    """The form conflict messages use: ``.spec.containers[name="c"].image``."""
    parts = []
    for element in path:
        kind, text = element[:2], element[2:]
        if kind == "f:":
            parts.append("." + text)
        elif kind == "k:":
            keys = json.loads(text)
            parts.append("[" + ",".join(f"{k}={_compact(v)}" for k, v in keys.items()) + "]")
        elif kind == "v:":
            parts.append(f"[={text}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


def _find_item(items: list[Any], element: str) -> int | None:
    kind, text = element[:2], element[2:]
    if kind == "i:":
        index = int(text)
        return index if 0 <= index < len(items) else None
    wanted = json.loads(text)
    for i, item in enumerate(items):
        if kind == "v:" and item == wanted:
            return i
        if kind == "k:" and isinstance(item, Mapping) and _key_fields(item, wanted) == wanted:
            return i
    return None


def _step(container: Any, element: str) -> tuple[Any, Any] | None:
    """(container, key-or-index) that ``element`` names in ``container``, if present."""
    if element.startswith("f:"):
        if isinstance(container, dict) and element[2:] in container:
            return container, element[2:]
        return None
    if isinstance(container, list):
        index = _find_item(container, element)
        if index is not None:
            return container, index
    return None


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    """(found, value) at ``path`` in ``obj``."""
    node = obj
    for element in path:
        step = _step(node, element)
        if step is None:
            return False, None
        node = step[0][step[1]]
    return True, node


def remove_path(obj: Any, path: Path) -> bool:
    """Remove the value at ``path`` from ``obj`` in place; False when it was not there."""
    if not path:
        return False
    found, parent = get_path(obj, path[:-1])
    if not found:
        return False
    step = _step(parent, path[-1])
    if step is None:
        return False
    container, key = step
    del container[key]
    return True
