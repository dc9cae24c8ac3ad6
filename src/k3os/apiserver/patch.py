"""PATCH bodies: JSON Patch (RFC 6902), JSON merge patch (RFC 7386), and dispatch by
Content-Type to those and to strategic merge patch (``strategic.py``).

Server-side apply needs a field manager and managed fields, so it lives in ``apply.py``.
All functions take plain JSON data and return a new object; the input is never changed.
With ``share=True`` the new object is new only along the paths the patch writes (each map
and list on the way is a copy) and holds the input's own objects everywhere else: for a
caller that changes nothing of it in place below what the patch wrote (the API's write
path for most kinds; see `patching.py`), it saves copying a whole object per patch, and
comparing what the patch left alone becomes an identity check.

    APIError
    ├── PatchError          400 BadRequest: the patch document itself is malformed
    ├── PatchApplyError     422 Invalid: a well-formed JSON Patch failed on this object
    └── UnsupportedMediaType 415: a patch type this object does not take
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer

from k3os.apis.jsonbytes import parse
from k3os.apiserver.errors import APIError, BadRequest, RequestEntityTooLarge, UnsupportedMediaType
from k3os.apiserver.jsoncopy import deep_copy

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MAX_JSON_PATCH_OPERATIONS",
    "MERGE_PATCH",
    "PATCH_TYPES",
    "STRATEGIC_MERGE_PATCH",
    "PatchApplyError",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "decode_patch_body",
    "patch_object",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

# Upstream refuses bigger JSON patches (a guard against quadratic work).
MAX_JSON_PATCH_OPERATIONS = 10000


class PatchError(BadRequest):
    """The patch document is malformed (bad JSON, wrong shape, unknown directive)."""


class PatchApplyError(APIError):
    """A well-formed patch cannot be applied to this object (a failed ``test``, a missing
    path): 422, as upstream answers."""

    code = 422
    reason = "Invalid"


def decode_patch_body(body: bytes | str) -> Any:
    """The JSON document of a PATCH body, or :class:`PatchError`."""
    try:
        return parse(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise PatchError(f"error decoding patch: {e}") from e


def apply_json_patch(
    obj: Mapping[str, Any], operations: Any, *, share: bool = False
) -> dict[str, Any]:
    """RFC 6902: a list of ``add/remove/replace/move/copy/test`` operations."""
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise RequestEntityTooLarge(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(operations)}"
        )
    for i, op in enumerate(operations):
        if not isinstance(op, Mapping):
            raise PatchError(f"json patch operation {i} is not an object: {op!r}")
    try:
        patch = jsonpatch.JsonPatch(operations)
        doc = _own_paths(obj, operations) if share else deep_copy(dict(obj))
        result = patch.apply(doc, in_place=True)
    except jsonpatch.InvalidJsonPatch as e:
        raise PatchError(f"invalid json patch: {e}") from e
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
        raise PatchApplyError(str(e)) from e
    if not isinstance(result, dict):
        raise PatchApplyError("json patch result must be an object")
    return result


def _pointer_parts(pointer: Any) -> list[str] | None:
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        return None  # the root, or not a pointer (jsonpatch says which)
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def _own_paths(obj: Mapping[str, Any], operations: list[Any]) -> dict[str, Any]:
    """A shallow copy of `obj` in which each map an operation changes in place, and each
    map on the way to it, is a copy of its own; a list on the way is copied whole (an
    operation before may shift its elements), as is the value a `move` takes. The rest
    is `obj`'s. jsonpatch itself copies the values it inserts and what a `copy` takes."""
    doc: dict[str, Any] = dict(obj)
    owned = {id(doc)}  # maps copied one level
    whole: set[int] = set()  # copied with everything below

    def own(parts: list[str], including_last: bool) -> None:
        node: Any = doc
        for i, part in enumerate(parts if including_last else parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                return  # past what exists, or into a list owned whole: jsonpatch decides
            child = node[part]
            if not isinstance(child, dict | list) or id(child) in whole:
                return
            if isinstance(child, list) or i == len(parts) - 1:  # the last: a move's value
                node[part] = child = deep_copy(child)
                whole.add(id(child))
                return
            if id(child) not in owned:
                node[part] = child = dict(child)
                owned.add(id(child))
            node = child

    for op in operations:
        kind = op.get("op")
        if kind == "test":
            continue
        parts = _pointer_parts(op.get("path"))
        if parts:
            own(parts, including_last=False)
        if kind == "move" and (parts := _pointer_parts(op.get("from"))):
            own(parts, including_last=True)
    return doc


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return deep_copy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def apply_merge_patch(obj: Mapping[str, Any], patch: Any, *, share: bool = False) -> dict[str, Any]:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        raise PatchError("merge patch must be a JSON object")
    merged: dict[str, Any] = _merge(dict(obj) if share else deep_copy(dict(obj)), patch)
    return merged


def patch_object(
    content_type: str,
    obj: Mapping[str, Any],
    body: bytes | str,
    *,
    api_version: str = "",
    kind: str = "",
    share: bool = False,
) -> dict[str, Any]:
    """Apply a PATCH body of ``content_type`` (parameters such as ``charset`` allowed).

    Strategic merge patch needs the built-in schema of ``api_version``/``kind``; other
    kinds (custom resources) get 415, as upstream. Apply patches go through ``apply.py``.
    ``share``: see the module's docstring.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_PATCH:
        return apply_json_patch(obj, decode_patch_body(body), share=share)
    if media == MERGE_PATCH:
        return apply_merge_patch(obj, decode_patch_body(body), share=share)
    if media == STRATEGIC_MERGE_PATCH:
        from k3os.apiserver.fieldschema import builtin_root
        from k3os.apiserver.strategic import apply_strategic_merge_patch

        root = builtin_root(api_version, kind)
        if root is None:
            raise UnsupportedMediaType([JSON_PATCH, MERGE_PATCH, APPLY_PATCH])
        return apply_strategic_merge_patch(obj, decode_patch_body(body), root, share=share)
    raise UnsupportedMediaType(list(PATCH_TYPES))
