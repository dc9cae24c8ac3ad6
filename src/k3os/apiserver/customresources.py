"""Serving the kinds CRDs define: how a custom resource body is pruned, defaulted and
validated, how CRDs themselves are checked on write, and the OpenAPI definitions of
custom kinds.

The verbs call in here through small hooks (`check_body`, `validate_write`,
`openapi_definitions`); everything else about a custom resource is served by the generic
code, driven by its ResourceType (scale.py serves the `scale` subresource).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from k3os.apiserver.crd import GROUP, CustomVersion, validate_crd, validate_crd_update
from k3os.apiserver.crvalues import apply_defaults, prune, validate
from k3os.apiserver.errors import BadRequest, FieldError, Invalid, MethodNotAllowed
from k3os.apiserver.fieldschema import Node, custom_resource_root
from k3os.apiserver.jsoncopy import deep_copy
from k3os.apiserver.registry import ResourceType
from k3os.apiserver.request import ApiRequest
from k3os.apiserver.schemas import normalized
from k3os.apiserver.validation import check_object

__all__ = [
    "check_body",
    "custom_root",
    "custom_version",
    "openapi_definitions",
    "storage_api_version",
    "validate_write",
]

Obj = dict[str, Any]
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
_CRD_KIND = "CustomResourceDefinition"


def custom_version(rt: ResourceType) -> CustomVersion:
    assert isinstance(rt.custom, CustomVersion)
    return rt.custom


def check_body(req: ApiRequest, body: Any, mode: str) -> tuple[Obj, list[str]]:
    """A custom resource body pruned to its schema and defaulted; unknown fields are
    refused (`Strict`), reported as warnings (`Warn`) or dropped quietly (`Ignore`)."""
    rt = req.rt
    if not isinstance(body, dict):
        raise BadRequest(f"the body of a {rt.kind} request must be a JSON object")
    gv = body.get("apiVersion")
    if gv not in (None, "") and gv != rt.group_version:
        raise BadRequest(
            f"the API version in the data ({gv}) does not match the expected API version "
            f"({rt.group_version})"
        )
    if body.get("kind") not in (None, "", rt.kind):
        raise BadRequest(
            f'Object kind "{body.get("kind")}" does not match the kind "{rt.kind}" of this resource'
        )
    custom = custom_version(rt)
    obj, unknown = prune(custom.schema, deep_copy(body))
    meta = obj.get("metadata")
    if meta is not None:
        checked = check_object(normalized((_OBJECT_META,)), _OBJECT_META, meta)
        if checked.type_errors:
            raise BadRequest(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                + "; ".join(f"metadata.{e}" for e in checked.type_errors)
            )
        obj["metadata"] = checked.obj
        unknown = [f"metadata.{p}" for p in checked.unknown] + unknown
    warnings: list[str] = []
    if unknown and mode != "Ignore":
        texts = [f'unknown field "{p}"' for p in unknown]
        if mode == "Strict":
            raise BadRequest("strict decoding error: " + ", ".join(texts))
        warnings = texts
    obj = apply_defaults(custom.schema, obj)
    obj["apiVersion"] = rt.group_version
    obj["kind"] = rt.kind
    return obj, warnings


def validate_write(rt: ResourceType, new: Obj, old: Obj | None) -> None:
    """The value checks of a write about to be stored: a custom resource against its
    schema and CEL rules (`old` for transition rules), a CRD against CRD rules."""
    name = str((new.get("metadata") or {}).get("name") or "")
    if rt.custom is not None:
        if old is None and custom_version(rt).terminating:
            err = MethodNotAllowed(rt.plural, "create", group=rt.group)
            err.message = "create not allowed while custom resource definition is terminating"
            raise err
        errors = validate(custom_version(rt).schema, new, old)
        check = _FLEET_CHECKS.get((rt.group, rt.kind))
        if not errors and check is not None:
            errors = check(new, old)
    elif rt.group == GROUP and rt.kind == _CRD_KIND:
        errors = validate_crd(new) if old is None else validate_crd_update(new, old)
    else:
        return
    if errors:
        raise Invalid(rt.kind, name, errors, group=rt.group)


def _node_config_errors(new: Obj, old: Obj | None) -> list[FieldError]:
    """A NodeConfig's `spec.config` checked by the config engine, as the NodeConfig
    controller will render it (`k3os.apis.configcheck`): its CRD keeps the field open, so
    a bad config would otherwise be stored and fail only at render time, after `kubectl
    apply` said it was created. A write that leaves the config as stored is not checked
    again (a status write, or a NodeConfig stored before this check)."""
    config = (new.get("spec") or {}).get("config")
    if config is None or (old is not None and (old.get("spec") or {}).get("config") == config):
        return []
    if not isinstance(config, Mapping):  # the schema asks for an object; in case it did not
        return [FieldError.type_invalid("spec.config", config, "expected a mapping")]
    from k3os.apis.configcheck import canonical_config
    from k3os.config import ConfigError, ConfigSchemaError
    from k3os.config.errors import dotted

    try:
        canonical_config(config, source="spec.config")
    except ConfigSchemaError as e:
        field = f"spec.config.{dotted(e.path)}" if e.path else "spec.config"
        return [FieldError("FieldValueInvalid", field, detail=e.expected)]
    except ConfigError as e:
        return [FieldError("FieldValueInvalid", "spec.config", detail=str(e))]
    return []


def _plan_errors(new: Obj, old: Obj | None) -> list[FieldError]:
    """A Plan's spec checked by the model the Plan controller reads it with: what its CRD
    schema cannot say (a day of the week, a time of day, a time zone, a duration, a
    version or a channel) is refused on write, every error with its field, rather than
    stored and reported by the controller as an `InvalidPlan` Event naming the first. A
    write that leaves the spec as stored is not judged again."""
    spec = new.get("spec")
    if not isinstance(spec, Mapping) or (old is not None and old.get("spec") == spec):
        return []
    from pydantic import ValidationError

    from k3os.apis.plan import PlanSpec

    try:
        PlanSpec.model_validate(spec)
    except ValidationError as e:
        return [_field_error("spec", error) for error in e.errors()]
    return []


def _field_error(root: str, error: Any) -> FieldError:
    """One pydantic error as the API's field error (`spec.tolerations[0].operator`)."""
    from k3os.apis.meta import error_field, error_text

    field, detail = error_field(error.get("loc"), root), error_text(error)
    value = error.get("input")
    if isinstance(value, dict | list):  # a rule about a whole object: no value to show
        return FieldError("FieldValueInvalid", field, detail=detail)
    return FieldError("FieldValueInvalid", field, value, detail)


_FLEET_CHECKS: dict[tuple[str, str], Callable[[Obj, Obj | None], list[FieldError]]] = {
    ("k3os.io", "NodeConfig"): _node_config_errors,
    ("upgrade.cattle.io", "Plan"): _plan_errors,
}
"""The project's own kinds, checked on write by the code their controllers read them with
(beyond their CRDs' schemas); other clusters see these mistakes when the controllers do."""


def storage_api_version(rt: ResourceType) -> str:
    """The apiVersion an object of `rt` is stored at (the CRD's storage version)."""
    if rt.custom is None:
        return rt.group_version
    return f"{rt.group}/{custom_version(rt).storage_version}"


def custom_root(rt: ResourceType) -> Node:
    return custom_resource_root(custom_version(rt).schema)


# --- OpenAPI -------------------------------------------------------------------------------


def _published(schema: Any, *, v3: bool) -> Any:
    """A CRD schema as the OpenAPI documents carry it (v2 has no nullable, anyOf, ...)."""
    if isinstance(schema, list):
        return [_published(s, v3=v3) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: Obj = {}
    for key, value in schema.items():
        if not v3 and key in ("nullable", "anyOf", "oneOf", "not", "allOf"):
            continue
        if key in ("properties",) and isinstance(value, Mapping):
            out[key] = {k: _published(v, v3=v3) for k, v in value.items()}
        elif key in ("default", "enum", "example", "x-kubernetes-validations"):
            out[key] = value
        else:
            out[key] = _published(value, v3=v3)
    return out


def openapi_definitions(rt: ResourceType, *, v3: bool) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The definitions of a custom kind and its list, and the upstream ones they use."""
    prefix = "#/components/schemas/" if v3 else "#/definitions/"
    gvk = [{"group": rt.group, "version": rt.version, "kind": rt.kind}]
    schema = _published(dict(custom_version(rt).schema), v3=v3)
    props = dict(schema.get("properties") or {})
    meta_ref: Obj = {"$ref": prefix + _OBJECT_META}
    props["metadata"] = {"allOf": [meta_ref]} if v3 else meta_ref
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    schema["properties"] = props
    schema["type"] = "object"
    schema["x-kubernetes-group-version-kind"] = gvk
    list_meta: Obj = {"$ref": prefix + _LIST_META}
    listing = {
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": prefix + rt.definition}},
            "metadata": {"allOf": [list_meta]} if v3 else list_meta,
        },
        "x-kubernetes-group-version-kind": [{**gvk[0], "kind": rt.list_kind}],
    }
    roots: tuple[str, ...] = (_OBJECT_META, _LIST_META)
    if custom_version(rt).scale is not None:
        roots += ("io.k8s.api.autoscaling.v1.Scale",)
    return {rt.definition: schema, rt.definition + "List": listing}, roots
