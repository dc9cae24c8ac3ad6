"""Strategic merge patch for built-in kinds, driven by the upstream merge metadata.

Maps merge key by key and ``null`` deletes, as in a JSON merge patch; lists follow their
field's patch strategy: ``merge`` lists of objects merge element-wise by the patch merge
key (containers by ``name``, ports by ``containerPort``, conditions by ``type``,
ownerReferences by ``uid``), ``merge`` lists of scalars take the union (finalizers), and
everything else (tolerations, taints, args) is replaced. Directives:

- ``$patch: replace`` in a map replaces it; as a list element, replaces the whole list;
- ``$patch: delete`` in a map deletes it; as a list element, deletes the element with
  that merge key;
- ``$deleteFromPrimitiveList/<field>: [values]`` removes values from a scalar list;
- ``$setElementOrder/<field>: [...]`` orders the patched elements of a list;
- ``$retainKeys: [fields]`` clears the map's other fields (union types such as volumes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from k3os.apiserver.fieldschema import Node
from k3os.apiserver.jsoncopy import deep_copy
from k3os.apiserver.patch import PatchError

__all__ = ["apply_strategic_merge_patch"]

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"


class _Deleted:
    """What merging a ``$patch: delete`` map yields: the caller drops the value."""


DELETED = _Deleted()


def apply_strategic_merge_patch(
    obj: Mapping[str, Any], patch: Any, root: Node, *, share: bool = False
) -> dict[str, Any]:
    """Apply a strategic merge patch to ``obj`` whose schema is ``root``; new object
    (``share``: new only along the patch's paths, as `patch.apply_merge_patch`'s)."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    merged = _merge_map(dict(obj) if share else deep_copy(dict(obj)), patch, root, "")
    return {} if isinstance(merged, _Deleted) else merged


def _is_directive(key: str) -> bool:
    return key in (PATCH, RETAIN_KEYS) or key.startswith(
        (DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)
    )


def _merge_map(
    original: dict[str, Any], patch: Mapping[str, Any], node: Node, where: str
) -> dict[str, Any] | _Deleted:
    """`original` merged with `patch`: a new map (`original` itself is left alone)."""
    original = dict(original)
    if not any(key[:1] == "$" for key in patch):  # no directives: the common case
        return _merge_fields(original, patch, node, where)
    directive = patch.get(PATCH)
    if directive == "delete":
        return DELETED
    if directive == "replace":
        original = {}
    elif directive not in (None, "merge"):
        raise PatchError(f"Unknown patch type: {directive} in map at {where or '.'}")
    retain = patch.get(RETAIN_KEYS)
    if retain is not None:
        if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
            raise PatchError(f"{RETAIN_KEYS} at {where or '.'} must be a list of field names")
        for key in patch:
            if not _is_directive(key) and key not in retain and patch[key] is not None:
                raise PatchError(
                    f"field {key!r} at {where or '.'} is not present in the {RETAIN_KEYS} list"
                )
        original = {k: v for k, v in original.items() if k in retain}
    for field, values, current in _list_directives(
        patch, DELETE_FROM_PRIMITIVE_LIST, original, where
    ):
        original[field] = [v for v in current if v not in values]
    _merge_fields(original, {k: v for k, v in patch.items() if not _is_directive(k)}, node, where)
    for field, order, current in _list_directives(patch, SET_ELEMENT_ORDER, original, where):
        original[field] = _set_order(current, order, node.field(field))
    return original


def _list_directives(
    patch: Mapping[str, Any], prefix: str, original: dict[str, Any], where: str
) -> list[tuple[str, list[Any], list[Any]]]:
    """The `prefix`-directives of `patch` (each value must be a list) whose field is a list
    in `original`: (field, the directive's list, the current list)."""
    found: list[tuple[str, list[Any], list[Any]]] = []
    for key, values in patch.items():
        if key.startswith(prefix):
            if not isinstance(values, list):
                raise PatchError(f"{key} at {where or '.'} must be a list")
            field = key[len(prefix) :]
            current = original.get(field)
            if isinstance(current, list):
                found.append((field, values, current))
    return found


def _merge_fields(
    original: dict[str, Any], patch: Mapping[str, Any], node: Node, where: str
) -> dict[str, Any]:
    """Merge the patch's fields (directives left out) into `original`, in place."""
    for key, value in patch.items():
        if value is None:
            original.pop(key, None)
            continue
        if not isinstance(value, dict | list):  # a scalar replaces whatever was there
            original[key] = value
            continue
        here = f"{where}.{key}"
        child = node.field(key)
        if key in original:
            merged = _merge_value(original[key], value, child, here)
        else:
            merged = _fresh(value, child, here)
        if isinstance(merged, _Deleted):
            original.pop(key, None)
        else:
            original[key] = merged
    return original


def _merge_value(original: Any, patch: Any, node: Node, where: str) -> Any:
    if isinstance(patch, dict):
        if isinstance(original, dict) and "replace" not in node.strategies:
            return _merge_map(original, patch, node, where)
        return _fresh(patch, node, where)
    if isinstance(patch, list):
        if isinstance(original, list) and "merge" in node.strategies:
            return _merge_list(original, patch, node, where)
        return _fresh(patch, node, where)
    return patch


def _fresh(patch: Any, node: Node, where: str) -> Any:
    """A patch value with nothing to merge into: its directives are resolved and removed."""
    if isinstance(patch, dict):
        return _merge_map({}, patch, node, where)
    if isinstance(patch, list):
        return (
            _merge_list([], patch, node, where) if "merge" in node.strategies else deep_copy(patch)
        )
    return patch  # a scalar: immutable


def _merge_list(original: list[Any], patch: list[Any], node: Node, where: str) -> list[Any]:
    replace = [p for p in patch if isinstance(p, dict) and p.get(PATCH) == "replace"]
    if replace:
        original = []
        patch = [p for p in patch if not (isinstance(p, dict) and p.get(PATCH) == "replace")]
    key = node.merge_key
    if not key:
        if any(isinstance(p, dict) for p in patch):
            raise PatchError(f"{where}: list of objects has no patch merge key to merge by")
        result = list(original)
        for value in patch:
            if value not in result:
                result.append(deep_copy(value))
        return result
    item_node = node.item()
    result = list(original)
    for i, element in enumerate(patch):
        here = f"{where}[{i}]"
        if not isinstance(element, dict):
            raise PatchError(f"{here}: expected an object with merge key {key!r}, got {element!r}")
        if key not in element:
            raise PatchError(f"{here}: map does not contain declared merge key: {key}")
        directive = element.get(PATCH)
        matches = [
            j for j, o in enumerate(result) if isinstance(o, dict) and o.get(key) == element[key]
        ]
        if directive == "delete":
            result = [o for j, o in enumerate(result) if j not in matches]
            continue
        if directive not in (None, "merge"):
            raise PatchError(f"Unknown patch type: {directive} in list element at {here}")
        if matches:
            merged = _merge_map(result[matches[0]], element, item_node, here)
            result[matches[0]] = merged
        else:
            result.append(_merge_map({}, element, item_node, here))
    return result


def _set_order(current: list[Any], order: list[Any], node: Node) -> list[Any]:
    """Put the elements named in ``order`` in that order; elements the patch did not name
    (added by the server or another client) keep their slots."""
    key = node.merge_key

    def ident(value: Any) -> Any:
        if key and isinstance(value, dict):
            return _hashable(value.get(key))
        return _hashable(value)

    position = {ident(v): i for i, v in enumerate(order)}
    ordered = sorted((v for v in current if ident(v) in position), key=lambda v: position[ident(v)])
    it = iter(ordered)
    return [next(it) if ident(v) in position else v for v in current]


def _hashable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value
