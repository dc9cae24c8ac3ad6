"""PATCH bodies: JSON Patch (RFC 6902), JSON merge patch (RFC 7386), and dispatch by
Content-Type to those and to strategic merge patch (``strategic.py``).

Server-side apply needs a field manager and managed fields, so it lives in ``apply.py``.
All functions take plain JSON data and return a new object; the input is never changed.

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


def apply_json_patch(obj: Mapping[str, Any], operations: Any) -> dict[str, Any]:
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
        result = patch.apply(deep_copy(dict(obj)), in_place=True)
    except jsonpatch.InvalidJsonPatch as e:
        raise PatchError(f"invalid json patch: {e}") from e
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
        raise PatchApplyError(str(e)) from e
    if not isinstance(result, dict):
        raise PatchApplyError("json patch result must be an object")
    return result


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


def apply_merge_patch(obj: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        raise PatchError("merge patch must be a JSON object")
    merged: dict[str, Any] = _merge(deep_copy(dict(obj)), patch)
    return merged


def patch_object(
    content_type: str,
    obj: Mapping[str, Any],
    body: bytes | str,
    *,
    api_version: str = "",
    kind: str = "",
) -> dict[str, Any]:
    """Apply a PATCH body of ``content_type`` (parameters such as ``charset`` allowed).

    Strategic merge patch needs the built-in schema of ``api_version``/``kind``; other
    kinds (custom resources) get 415, as upstream. Apply patches go through ``apply.py``.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_PATCH:
        return apply_json_patch(obj, decode_patch_body(body))
    if media == MERGE_PATCH:
        return apply_merge_patch(obj, decode_patch_body(body))
    if media == STRATEGIC_MERGE_PATCH:
        from k3os.apiserver.fieldschema import builtin_root
        from k3os.apiserver.strategic import apply_strategic_merge_patch

        root = builtin_root(api_version, kind)
        if root is None:
            raise UnsupportedMediaType([JSON_PATCH, MERGE_PATCH, APPLY_PATCH])
        return apply_strategic_merge_patch(obj, decode_patch_body(body), root)
    raise UnsupportedMediaType(list(PATCH_TYPES))
