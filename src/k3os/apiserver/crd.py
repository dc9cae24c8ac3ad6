"""CustomResourceDefinitions (apiextensions.k8s.io/v1) as data: their validation, their
defaults, the status conditions the server gives them, and the resource types they add.

Pure functions of CRD objects; `crds.py` runs them against the store and the registry.
Conversion between versions is `None` only (served versions differ in apiVersion alone);
a webhook conversion is refused when the CRD is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from k3os.apiserver.errors import FieldError
from k3os.apiserver.jsonpath import JSONPathError, compile_jsonpath
from k3os.apiserver.registry import ResourceType, Subresource
from k3os.apiserver.structural import check_structural
from k3os.apiserver.tables import Printer, custom_resource_printer
from k3os.apiserver.validation import validate_name

__all__ = [
    "CLEANUP_FINALIZER",
    "GROUP",
    "CustomVersion",
    "Scale",
    "conditions",
    "default_crd",
    "definition_name",
    "name_conflicts",
    "resource_types",
    "validate_crd",
    "validate_crd_update",
    "version_priority",
]

Obj = dict[str, Any]
GROUP = "apiextensions.k8s.io"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_COLUMN_TYPES = ("integer", "number", "string", "boolean", "date")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_TEXT = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character"
)


@dataclass(frozen=True)
class Scale:
    """Where a custom resource keeps what its `scale` subresource shows."""

    spec_replicas: str  # ".spec.replicas"
    status_replicas: str
    label_selector: str = ""


@dataclass(frozen=True)
class CustomVersion:
    """What the server needs of one served version of a CRD (kept on its ResourceType)."""

    crd_name: str
    storage_version: str
    schema: Mapping[str, Any]
    printer: Printer = field(compare=False)
    status: bool
    scale: Scale | None
    columns: tuple[Mapping[str, Any], ...] = ()
    terminating: bool = False  # the CRD is being deleted: no new objects


def _spec(crd: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = crd.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _names(crd: Mapping[str, Any]) -> Mapping[str, Any]:
    names = _spec(crd).get("names")
    return names if isinstance(names, Mapping) else {}


def _versions(crd: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    versions = _spec(crd).get("versions")
    return [v for v in versions if isinstance(v, Mapping)] if isinstance(versions, list) else []


def default_crd(crd: Obj) -> None:
    """Upstream's defaults: singular and listKind from kind, `None` conversion."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    conversion = spec.setdefault("conversion", {})
    if isinstance(conversion, dict):
        conversion.setdefault("strategy", "None")


def _label(path: str, value: Any, *, required: bool = True) -> list[FieldError]:
    if value in (None, ""):
        return [FieldError.required(path)] if required else []
    if not isinstance(value, str):
        return [FieldError.invalid(path, value, "must be a string")]
    return validate_name(value, label=True, path=path)


def _validate_names(names: Mapping[str, Any], path: str) -> list[FieldError]:
    errors = _label(f"{path}.plural", names.get("plural"))
    errors += _label(f"{path}.singular", names.get("singular"), required=False)
    for key in ("kind", "listKind"):
        kind = names.get(key)
        if kind in (None, ""):
            if key == "kind":
                errors.append(FieldError.required(f"{path}.kind"))
            continue
        if not isinstance(kind, str) or not _DNS1035.match(kind.lower()):
            errors.append(FieldError.invalid(f"{path}.{key}", kind, _DNS1035_TEXT))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errors.append(
            FieldError.invalid(
                f"{path}.listKind", names["listKind"], "kind and listKind may not be the same"
            )
        )
    for key in ("shortNames", "categories"):
        for i, value in enumerate(names.get(key) or ()):
            errors += _label(f"{path}.{key}[{i}]", value)
    return errors


def _validate_scale(scale: Any, path: str) -> list[FieldError]:
    if not isinstance(scale, Mapping):
        return [FieldError.invalid(path, scale, "must be an object")]
    errors = []
    for key, prefix in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
        value = scale.get(key)
        if not value:
            errors.append(FieldError.required(f"{path}.{key}"))
        elif not isinstance(value, str) or not value.startswith(prefix):
            errors.append(
                FieldError.invalid(
                    f"{path}.{key}", value, f"should be a json path under {prefix[:-1]}"
                )
            )
    selector = scale.get("labelSelectorPath")
    if selector and not (isinstance(selector, str) and selector.startswith((".spec.", ".status."))):
        errors.append(
            FieldError.invalid(
                f"{path}.labelSelectorPath",
                selector,
                "should be a json path under either .spec or .status",
            )
        )
    return errors


def _validate_columns(columns: Any, path: str) -> list[FieldError]:
    if columns is None:
        return []
    if not isinstance(columns, list):
        return [FieldError.invalid(path, columns, "must be a list")]
    errors = []
    for i, col in enumerate(columns):
        where = f"{path}[{i}]"
        if not isinstance(col, Mapping):
            errors.append(FieldError.invalid(where, col, "must be an object"))
            continue
        if not col.get("name"):
            errors.append(FieldError.required(f"{where}.name"))
        if col.get("type") not in _COLUMN_TYPES:
            if not col.get("type"):
                errors.append(FieldError.required(f"{where}.type"))
            else:
                errors.append(FieldError.not_supported(f"{where}.type", col["type"], _COLUMN_TYPES))
        json_path = col.get("jsonPath")
        if not json_path:
            errors.append(FieldError.required(f"{where}.jsonPath"))
        else:
            try:
                compile_jsonpath(str(json_path))
            except JSONPathError as e:
                errors.append(FieldError.invalid(f"{where}.jsonPath", json_path, str(e)))
    return errors


def _validate_version(v: Mapping[str, Any], i: int, seen: set[str]) -> list[FieldError]:
    path = f"spec.versions[{i}]"
    errors: list[FieldError] = []
    name = v.get("name")
    if not name:
        errors.append(FieldError.required(f"{path}.name"))
    elif not isinstance(name, str) or not _DNS1035.match(name) or len(name) > 63:
        errors.append(FieldError.invalid(f"{path}.name", name, _DNS1035_TEXT))
    elif name in seen:
        errors.append(FieldError.duplicate(f"{path}.name", name))
    else:
        seen.add(name)
    schema = (
        (v.get("schema") or {}).get("openAPIV3Schema")
        if isinstance(v.get("schema"), Mapping)
        else None
    )
    where = f"{path}.schema.openAPIV3Schema"
    if schema is None:
        errors.append(FieldError.required(where, "schemas are required"))
    else:
        errors += check_structural(schema, where)
    subresources = v.get("subresources") or {}
    if isinstance(subresources, Mapping) and subresources.get("scale") is not None:
        errors += _validate_scale(subresources["scale"], f"{path}.subresources.scale")
    errors += _validate_columns(
        v.get("additionalPrinterColumns"), f"{path}.additionalPrinterColumns"
    )
    return errors


def validate_crd(crd: Mapping[str, Any]) -> list[FieldError]:
    """Everything wrong with a (defaulted) CRD, as field errors."""
    spec = _spec(crd)
    names = _names(crd)
    errors: list[FieldError] = []
    group = spec.get("group")
    if not group:
        errors.append(FieldError.required("spec.group"))
    elif not isinstance(group, str) or validate_name(group, path="spec.group"):
        errors.append(FieldError.invalid("spec.group", group, "a lowercase RFC 1123 subdomain"))
    elif "." not in group:
        errors.append(
            FieldError.invalid("spec.group", group, "should be a domain with at least one dot")
        )
    name = (crd.get("metadata") or {}).get("name")
    expected = f"{names.get('plural')}.{group}"
    if name != expected:
        errors.append(
            FieldError.invalid(
                "metadata.name", name or "", 'must be spec.names.plural+"."+spec.group'
            )
        )
    errors += _validate_names(names, "spec.names")
    scope = spec.get("scope")
    if not scope:
        errors.append(FieldError.required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errors.append(FieldError.not_supported("spec.scope", scope, ("Cluster", "Namespaced")))
    versions = _versions(crd)
    if not versions:
        errors.append(
            FieldError.required(
                "spec.versions", "must have exactly one version marked as storage version"
            )
        )
    else:
        seen: set[str] = set()
        for i, v in enumerate(versions):
            errors += _validate_version(v, i, seen)
        storage = [v for v in versions if v.get("storage") is True]
        if len(storage) != 1:
            errors.append(
                FieldError.invalid(
                    "spec.versions",
                    [v.get("name") for v in storage],
                    "must have exactly one version marked as storage version",
                )
            )
        if not any(v.get("served") is True for v in versions):
            errors.append(
                FieldError.invalid(
                    "spec.versions",
                    [v.get("name") for v in versions],
                    "must have at least one version marked as served",
                )
            )
    if spec.get("preserveUnknownFields") is True:
        errors.append(
            FieldError.invalid(
                "spec.preserveUnknownFields", True, "must be false in apiextensions.k8s.io/v1"
            )
        )
    strategy = (spec.get("conversion") or {}).get("strategy", "None")
    if strategy != "None":
        errors.append(
            FieldError(
                "FieldValueNotSupported",
                "spec.conversion.strategy",
                strategy,
                'supported values: "None" (this server has no conversion webhooks; served '
                "versions must differ in apiVersion only)",
            )
        )
    return errors


def validate_crd_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    errors = validate_crd(new)
    old_scope = _spec(old).get("scope")
    if old_scope and _spec(new).get("scope") != old_scope:
        errors.append(
            FieldError.invalid("spec.scope", _spec(new).get("scope"), "field is immutable")
        )
    return errors


def definition_name(group: str, version: str, kind: str) -> str:
    """The OpenAPI definition of a custom kind: the group reversed (`com.example.v1.Foo`)."""
    return ".".join([*reversed(group.split(".")), version, kind])


def storage_version(crd: Mapping[str, Any]) -> str:
    for v in _versions(crd):
        if v.get("storage") is True:
            return str(v.get("name"))
    return ""


_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(name: str) -> tuple[int, int, int, str]:
    """Sort key of versions as discovery orders them: v2 > v1 > v1beta2 > v1alpha1 > others."""
    m = _KUBE_VERSION.match(name)
    if m is None:
        return (3, 0, 0, name)
    stage = {"": 0, "beta": 1, "alpha": 2}[m.group(2) or ""]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), name)


def resource_types(crd: Mapping[str, Any]) -> list[ResourceType]:
    """One ResourceType per served version of an accepted CRD, preferred version first."""
    spec = _spec(crd)
    names = _names(crd)
    group = str(spec.get("group"))
    kind = str(names.get("kind"))
    plural = str(names.get("plural"))
    stored = storage_version(crd)
    out = []
    for v in sorted(_versions(crd), key=lambda v: version_priority(str(v.get("name")))):
        if v.get("served") is not True:
            continue
        version = str(v["name"])
        subs = v.get("subresources") if isinstance(v.get("subresources"), Mapping) else {}
        assert isinstance(subs, Mapping)
        sub_types = []
        has_status = subs.get("status") is not None
        if has_status:
            sub_types.append(Subresource("status", kind, ("get", "patch", "update")))
        scale = None
        if isinstance(subs.get("scale"), Mapping):
            sc = subs["scale"]
            scale = Scale(
                str(sc["specReplicasPath"]),
                str(sc["statusReplicasPath"]),
                str(sc.get("labelSelectorPath") or ""),
            )
            sub_types.append(
                Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1")
            )
        columns = tuple(
            c for c in v.get("additionalPrinterColumns") or () if isinstance(c, Mapping)
        )
        schema = (v.get("schema") or {}).get("openAPIV3Schema") or {}
        custom = CustomVersion(
            crd_name=str((crd.get("metadata") or {}).get("name")),
            storage_version=stored,
            schema=schema,
            printer=custom_resource_printer(columns or None),
            status=has_status,
            scale=scale,
            columns=columns,
            terminating=bool((crd.get("metadata") or {}).get("deletionTimestamp")),
        )
        out.append(
            ResourceType(
                group,
                version,
                kind,
                plural,
                str(names.get("singular") or kind.lower()),
                spec.get("scope") == "Namespaced",
                definition_name(group, version, kind),
                tuple(names.get("shortNames") or ()),
                tuple(names.get("categories") or ()),
                subresources=tuple(sub_types),
                storage_resource=f"{group}/{plural}",
                has_generation=True,
                custom=custom,
            )
        )
    return out


def name_conflicts(crd: Mapping[str, Any], others: Iterable[ResourceType]) -> str:
    """Why the CRD's names clash with served types of other owners ("" when they do not)."""
    spec = _spec(crd)
    names = _names(crd)
    group = spec.get("group")
    own = (crd.get("metadata") or {}).get("name")
    for rt in others:
        if rt.group != group or (rt.custom is not None and rt.custom.crd_name == own):
            continue
        if rt.plural == names.get("plural"):
            return f'"{rt.plural}" is already in use'
        if rt.kind == names.get("kind"):
            return f'"{rt.kind}" is already in use'
        short = set(names.get("shortNames") or ()) & set(rt.short_names)
        if short:
            return f'"{sorted(short)[0]}" is already in use'
    return ""


def _condition(
    kind: str, status: str, reason: str, message: str, now: str, previous: Mapping[str, Any] | None
) -> Obj:
    since = now
    if previous is not None and previous.get("status") == status:
        since = str(previous.get("lastTransitionTime") or now)
    return {
        "type": kind,
        "status": status,
        "lastTransitionTime": since,
        "reason": reason,
        "message": message,
    }


def conditions(crd: Mapping[str, Any], conflict: str, now: str, *, terminating: str = "") -> Obj:
    """The status the server gives a CRD: accepted names, stored versions, conditions."""
    status = crd.get("status") if isinstance(crd.get("status"), Mapping) else {}
    assert isinstance(status, Mapping)
    before = {c.get("type"): c for c in status.get("conditions") or () if isinstance(c, Mapping)}
    names = dict(_names(crd))
    out: list[Obj] = []
    if conflict:
        out.append(
            _condition(
                "NamesAccepted", "False", "NameConflict", conflict, now, before.get("NamesAccepted")
            )
        )
        out.append(
            _condition(
                "Established",
                "False",
                "NotAccepted",
                "not all names are accepted",
                now,
                before.get("Established"),
            )
        )
        accepted = status.get("acceptedNames") or {"plural": "", "kind": ""}
    else:
        out.append(
            _condition(
                "NamesAccepted",
                "True",
                "NoConflicts",
                "no conflicts found",
                now,
                before.get("NamesAccepted"),
            )
        )
        out.append(
            _condition(
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                now,
                before.get("Established"),
            )
        )
        accepted = {
            k: names[k]
            for k in ("plural", "singular", "shortNames", "kind", "listKind", "categories")
            if names.get(k)
        }
    if terminating:
        out.append(
            _condition(
                "Terminating",
                "True",
                "InstanceDeletionInProgress",
                terminating,
                now,
                before.get("Terminating"),
            )
        )
    stored = list(status.get("storedVersions") or ())
    current = storage_version(crd)
    if current and current not in stored:
        stored.append(current)
    return {"conditions": out, "acceptedNames": accepted, "storedVersions": stored}
