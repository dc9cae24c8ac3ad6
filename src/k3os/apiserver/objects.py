"""Object metadata through its life: what the server sets on create, carries over on
update, and how `generation` follows spec changes.

Pure functions of (old object, new object, clock); handlers call them before writing.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
import uuid
from collections.abc import Callable
from typing import Any

from k3os.apiserver.errors import BadRequest, FieldError, Invalid
from k3os.apiserver.jsoncopy import deep_copy
from k3os.apiserver.registry import ResourceType
from k3os.apiserver.validation import validate_name

__all__ = [
    "Clock",
    "carry_over",
    "generate_name",
    "prepare_create",
    "rfc3339",
    "spec_of",
    "utc_now",
]

Obj = dict[str, Any]
Clock = Callable[[], dt.datetime]

# Set by the server only: ignored in create bodies, carried over from storage on update.
_SERVER_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "generation", "selfLink")  # fmt: skip
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_name(prefix: str) -> str:
    """`prefix` plus five random characters, as upstream's name generator does."""
    prefix = prefix[: 63 - 5]
    return prefix + "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(5))


def spec_of(obj: Obj) -> Obj:
    """Everything but metadata and status: what a generation bump looks at."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _check_meta(rt: ResourceType, obj: Obj, namespace: str) -> Obj:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise BadRequest("metadata must be an object")
    if rt.namespaced:
        given = meta.get("namespace")
        if given and namespace and given != namespace:
            raise BadRequest(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["namespace"] = namespace or given or ""
    else:
        meta.pop("namespace", None)
    return meta


def prepare_create(rt: ResourceType, obj: Obj, namespace: str, now: dt.datetime) -> Obj:
    """The object as it will be stored on create (without its resourceVersion)."""
    obj = deep_copy(obj)
    meta = _check_meta(rt, obj, namespace)
    for key in (*_SERVER_FIELDS, "resourceVersion"):
        meta.pop(key, None)
    if not meta.get("name"):
        prefix = meta.get("generateName")
        if not prefix:
            raise Invalid(
                rt.kind,
                "",
                [FieldError.required("metadata.name", "name or generateName is required")],
                group=rt.group,
            )
        meta["name"] = generate_name(str(prefix))
    errors = validate_name(
        str(meta["name"]),
        label=rt.plural == "namespaces" and not rt.group,
        path_segment=rt.group == "rbac.authorization.k8s.io",
    )
    if rt.namespaced and not meta.get("namespace"):
        errors.append(FieldError.required("metadata.namespace"))
    if errors:
        raise Invalid(rt.kind, str(meta["name"]), errors, group=rt.group)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = rfc3339(now)
    if rt.has_generation:
        meta["generation"] = 1
    obj["apiVersion"] = rt.group_version
    obj["kind"] = rt.kind
    return obj


def carry_over(
    rt: ResourceType, old: Obj, new: Obj, namespace: str, *, subresource: str = "",
    owned: bool = False,
) -> Obj:  # fmt: skip
    """The object as it will be stored on update: server-owned metadata from `old`,
    `.status` from `old` for main-resource writes (and only `.status` from `new` for
    status writes), generation bumped when the spec changed. `owned`: `new` is the
    caller's to give away (it is changed in place rather than copied)."""
    if not owned:
        new = deep_copy(new)
    meta = _check_meta(rt, new, namespace)
    old_meta = old["metadata"]
    name = old_meta["name"]
    if meta.get("name") not in (None, name):
        raise BadRequest(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL "
            f"({name})"
        )
    meta["name"] = name
    if subresource == "status":
        # Everything but `.status` as `old` has it: what is equal already (all of it, for
        # a status patch) is kept, what differs is copied from `old`.
        version = meta.get("resourceVersion", "")
        for key in [k for k in new if k != "status" and k not in old]:
            del new[key]
        for key, value in old.items():
            if key != "status" and new.get(key) != value:
                new[key] = deep_copy(value)
        if new.get("status") is None:
            new.pop("status", None)
        new["metadata"]["resourceVersion"] = version
        meta = new["metadata"]
    elif rt.has_status():
        if "status" not in old:
            new.pop("status", None)
        elif new.get("status") != old["status"]:  # equal (a patch that left it): its own
            new["status"] = deep_copy(old["status"])
    for key in _SERVER_FIELDS:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if rt.has_generation and subresource != "status":
        generation = int(old_meta.get("generation") or 1)
        if spec_of(old) != spec_of(new):
            generation += 1
        meta["generation"] = generation
    new["apiVersion"] = rt.group_version
    new["kind"] = rt.kind
    return new


def random_token(length: int = 16) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(length))
