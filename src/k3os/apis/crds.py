"""CustomResourceDefinitions generated from the models, and the YAML files shipped with them.

`crd_manifests()` builds apiextensions.k8s.io/v1 CRDs with structural schemas (no refs,
a type on every node, descriptions for `kubectl explain`) and printer columns. The same
manifests live in `k3os/apis/crds/*.yaml` as package data so the API server can install
them as data; `python -m k3os.apis` rewrites those files and a test keeps them equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from k3os.apis.duration import format_duration
from k3os.apis.nodeconfig import NodeConfig, RenderedNodeConfig
from k3os.apis.plan import Plan

CRD_DIR = Path(__file__).parent / "crds"
Schema = dict[str, Any]


@dataclass(frozen=True)
class CrdInfo:
    model: type[BaseModel]
    group: str
    version: str
    kind: str
    plural: str
    scope: str
    short_names: tuple[str, ...] = ()
    columns: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"


def _column(name: str, type_: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "jsonPath": path, **extra}


def _condition(type_: str, part: str = "status") -> str:
    return f'.status.conditions[?(@.type=="{type_}")].{part}'


_AGE = _column("Age", "date", ".metadata.creationTimestamp")

KINDS: tuple[CrdInfo, ...] = (
    CrdInfo(
        NodeConfig,
        "k3os.io",
        "v1",
        "NodeConfig",
        "nodeconfigs",
        "Cluster",
        ("nc",),
        (
            _column("Priority", "integer", ".spec.priority", priority=1),
            _column("Matched", "integer", ".status.matched"),
            _column("Updated", "integer", ".status.updated"),
            _column("Failed", "integer", ".status.failed"),
            _AGE,
        ),
    ),
    CrdInfo(
        RenderedNodeConfig,
        "k3os.io",
        "v1",
        "RenderedNodeConfig",
        "renderednodeconfigs",
        "Cluster",
        ("rnc",),
        (
            _column("Hash", "string", ".spec.hash"),
            _column("Observed", "string", ".status.observedHash"),
            _column("Applied", "string", _condition("Applied")),
            _column("Degraded", "string", _condition("Degraded")),
            _AGE,
        ),
    ),
    CrdInfo(
        Plan,
        "upgrade.cattle.io",
        "v1",
        "Plan",
        "plans",
        "Namespaced",
        (),
        (
            _column("Image", "string", ".spec.upgrade.image"),
            _column("Version", "string", ".status.latestVersion"),
            _column("Applying", "string", ".status.applying"),
            _column("Failed", "string", ".status.failed"),
            _column("Complete", "string", _condition("Complete")),
            _column("Halted", "string", _condition("Halted")),
            _column("Channel", "string", ".spec.channel", priority=1),
            _column("Message", "string", _condition("Complete", "message"), priority=1),
            _AGE,
        ),
    ),
)


class _Generator(GenerateJsonSchema):
    """Writes duration defaults the way the wire carries them (`15m`, not `PT15M`)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated sub-schemas out in full: CRD readers expect no YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class SchemaError(ValueError):
    """A model produced a schema shape that cannot be made structural."""


def _structural(node: Schema, defs: Schema, where: str) -> Schema:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return _structural({**target, **rest}, defs, where)
    if "allOf" in node and len(node["allOf"]) == 1:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        return _structural({**node["allOf"][0], **rest}, defs, where)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o != {"type": "null"}]
        if len(options) != 1:
            raise SchemaError(f"{where}: only Optional unions fit a structural schema")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        merged = _structural({**options[0], **rest}, defs, where)
        merged["nullable"] = True
        return merged
    out: Schema = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "default":
            if value is not None and value != [] and value != {}:
                out["default"] = value
        elif key == "properties":
            out["properties"] = {
                name: _structural(sub, defs, f"{where}.{name}") for name, sub in value.items()
            }
        elif key == "items":
            out["items"] = _structural(value, defs, f"{where}[]")
        elif key == "additionalProperties":
            if isinstance(value, dict) and value and "properties" not in node:
                out["additionalProperties"] = _structural(value, defs, f"{where}.*")
        else:
            out[key] = value
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        raise SchemaError(f"{where}: every schema node needs a type")
    return out


def openapi_schema(model: type[BaseModel]) -> Schema:
    """The structural openAPIV3Schema of a top-level kind."""
    raw = model.model_json_schema(by_alias=True, schema_generator=_Generator)
    schema = _structural(raw, raw.get("$defs", {}), model.__name__)
    schema["properties"]["apiVersion"] = {"type": "string"}
    schema["properties"]["kind"] = {"type": "string"}
    schema["properties"]["metadata"] = {"type": "object"}
    schema.pop("description", None)
    return schema


def crd_manifest(info: CrdInfo) -> dict[str, Any]:
    names: dict[str, Any] = {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.kind.lower(),
    }
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    if info.group == "k3os.io":
        names["categories"] = ["k3os"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": info.name},
        "spec": {
            "group": info.group,
            "names": names,
            "scope": info.scope,
            "versions": [
                {
                    "name": info.version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema(info.model)},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(info.columns),
                }
            ],
        },
    }


def crd_manifests() -> list[dict[str, Any]]:
    return [crd_manifest(info) for info in KINDS]


def crd_yaml(manifest: dict[str, Any]) -> str:
    header = "# Generated by `python -m k3os.apis` from k3os.apis; do not edit.\n"
    text = yaml.dump(
        manifest, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=100
    )
    return header + text


def crd_files() -> dict[str, str]:
    """File name -> text, for every CRD."""
    return {f"{m['metadata']['name']}.yaml": crd_yaml(m) for m in crd_manifests()}


def shipped_crds() -> list[dict[str, Any]]:
    """The CRD manifests as shipped in the package (what the API server installs)."""
    return [yaml.safe_load(p.read_text()) for p in sorted(CRD_DIR.glob("*.yaml"))]


def write_crd_files(directory: Path = CRD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in crd_files().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
