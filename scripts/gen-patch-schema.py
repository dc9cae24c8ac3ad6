"""Generate src/k3os/apiserver/_builtin_schema.py from the upstream OpenAPI schemas.

The patch code needs, for each built-in kind the server serves, the shape of its fields
and the upstream merge metadata: ``x-kubernetes-patch-merge-key``/``-patch-strategy``
(strategic merge patch) and ``x-kubernetes-list-type``/``-list-map-keys``/``-map-type``
(server-side apply). The PyPI package ``kubernetes-validate`` ships the upstream schemas
with those extensions; this script keeps only what patching needs.

    .venv/bin/python scripts/gen-patch-schema.py [--check]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

KUBERNETES_VERSION = "1.36.0"
OUTPUT = Path(__file__).resolve().parent.parent / "src/k3os/apiserver/_builtin_schema.py"

# (apiVersion, kind) of every built-in kind the server serves or accepts as a body.
KINDS = [
    ("v1", "Pod"),
    ("v1", "Node"),
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Event"),
    ("v1", "ServiceAccount"),
    ("events.k8s.io/v1", "Event"),
    ("coordination.k8s.io/v1", "Lease"),
    ("policy/v1", "PodDisruptionBudget"),
    ("policy/v1", "Eviction"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
]

# Property-less definitions that hold free-form JSON rather than a scalar.
UNTYPED = {
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
}


def load_definitions() -> dict[str, Any]:
    import kubernetes_validate  # type: ignore[import-untyped]

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = base / f"v{KUBERNETES_VERSION}-local" / "_definitions.json"
    return dict(json.loads(path.read_text())["$defs"])


PREFIXES = {
    "io.k8s.api.": "",
    "io.k8s.apimachinery.pkg.apis.meta.": "meta.",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.": "apiextensions.",
}


def ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def short(name: str) -> str:
    """``core.v1.Pod`` for ``io.k8s.api.core.v1.Pod``: keeps generated lines short."""
    for long, abbreviation in PREFIXES.items():
        if name.startswith(long):
            return abbreviation + name[len(long) :]
    return name


class Builder:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.out: dict[str, Any] = {}

    def node(self, prop: dict[str, Any]) -> dict[str, Any]:
        """A field's schema as a compact node (see the generated module's docstring)."""
        node: dict[str, Any]
        if "$ref" in prop:
            name = ref_name(prop["$ref"])
            target = self.defs[name]
            if name in UNTYPED:
                node = {"any": 1}
            elif "properties" not in target:
                node = {}
            else:
                self.define(name)
                node = {"ref": short(name)}
        elif "items" in prop:
            item = self.node(prop["items"])
            node = {"list": item, "lt": list_type(prop, item)}
            if node["lt"] == "map":
                keys = prop.get("x-kubernetes-list-map-keys") or [
                    prop["x-kubernetes-patch-merge-key"]
                ]
                node["keys"] = list(keys)
        elif isinstance(prop.get("additionalProperties"), dict):
            node = {"map": self.node(prop["additionalProperties"])}
        elif "object" in types_of(prop) and "properties" not in prop:
            node = {"any": 1}
        else:
            node = {}
        if "x-kubernetes-patch-merge-key" in prop:
            node["mk"] = prop["x-kubernetes-patch-merge-key"]
        if "x-kubernetes-patch-strategy" in prop:
            node["ps"] = prop["x-kubernetes-patch-strategy"]
        if prop.get("x-kubernetes-map-type") == "atomic":
            node["atomic"] = 1
        return node

    def define(self, name: str) -> None:
        if short(name) in self.out:
            return
        definition = self.defs[name]
        entry: dict[str, Any] = {"fields": {}}
        self.out[short(name)] = entry  # before recursing: definitions may refer to themselves
        if definition.get("x-kubernetes-map-type") == "atomic":
            entry["atomic"] = 1
        for field, prop in sorted(definition["properties"].items()):
            entry["fields"][field] = self.node(prop)


def types_of(prop: dict[str, Any]) -> list[str]:
    t = prop.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def list_type(prop: dict[str, Any], item: dict[str, Any]) -> str:
    """The list type server-side apply uses; as upstream, it falls back on the patch
    metadata when the schema does not say."""
    declared = prop.get("x-kubernetes-list-type")
    if declared:
        return str(declared)
    if prop.get("x-kubernetes-patch-strategy", "").startswith("merge"):
        if "x-kubernetes-patch-merge-key" in prop:
            return "map"
        if not item:
            return "set"
    return "atomic"


def _has_gvk(definition: dict[str, Any], api_version: str, kind: str) -> bool:
    for gvk in definition.get("x-kubernetes-group-version-kind", []):
        group, version = gvk["group"], gvk["version"]
        if (f"{group}/{version}" if group else version) == api_version and gvk["kind"] == kind:
            return True
    return False


def kind_index(defs: dict[str, Any]) -> dict[str, str]:
    index = {}
    for name, definition in defs.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group, version = gvk["group"], gvk["version"]
            api_version = f"{group}/{version}" if group else version
            index[(api_version, gvk["kind"])] = name
    return {f"{av}/{kind}": short(index[(av, kind)]) for av, kind in KINDS}


def render(defs: dict[str, Any]) -> str:
    builder = Builder(defs)
    kinds = kind_index(defs)
    for av, kind in KINDS:
        builder.define(next(n for n, d in defs.items() if _has_gvk(d, av, kind)))
    body = [
        '"""Field shapes and merge metadata of the built-in kinds (generated; do not edit).',
        "",
        f"Made by scripts/gen-patch-schema.py from the Kubernetes {KUBERNETES_VERSION} schemas in",
        "the kubernetes-validate package. A node is a dict: ``{}`` scalar, ``{'any': 1}``",
        "free-form JSON, ``{'ref': NAME}`` an object of definition NAME, ``{'map': NODE}`` a",
        "string-keyed map, ``{'list': NODE, 'lt': atomic|set|map, 'keys': [...]}`` a list;",
        "optional ``mk`` (patch merge key), ``ps`` (patch strategy), ``atomic`` (map type).",
        '"""',
        "",
        "from typing import Any",
        "",
        f"KINDS: dict[str, str] = {json.dumps(kinds, sort_keys=True)}",
        "",
        f"DEFINITIONS: dict[str, Any] = {json.dumps(builder.out, sort_keys=True)}",
        "",
    ]
    return "\n".join(body)


def formatted(source: str) -> str:
    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run(
        [str(ruff), "format", "--stdin-filename", str(OUTPUT), "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the module is stale")
    args = parser.parse_args()
    text = formatted(render(load_definitions()))
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run scripts/gen-patch-schema.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
