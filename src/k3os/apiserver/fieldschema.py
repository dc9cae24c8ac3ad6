"""The shape of an object's fields as strategic merge patch and server-side apply see it.

A :class:`Node` says whether a value is a scalar, free-form JSON, a struct of known
fields, a string-keyed map or a list, and carries the merge metadata: the list type
(``atomic``/``set``/``map`` with its keys), the patch merge key and strategy, and whether
a map is atomic. Built-in kinds come from the generated ``_builtin_schema`` table (upstream
OpenAPI extensions); custom resources from their CRD's structural schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Literal

__all__ = [
    "UNTYPED",
    "Node",
    "builtin_kinds",
    "builtin_root",
    "custom_resource_root",
    "node_from_openapi",
]

NodeKind = Literal["scalar", "any", "struct", "map", "list"]
ListType = Literal["atomic", "set", "map"]


class Node:
    """One position in a schema. Struct fields resolve lazily (schemas are recursive)."""

    __slots__ = (
        "_fields",
        "_resolve",
        "atomic",
        "elem",
        "keys",
        "kind",
        "list_type",
        "merge_key",
        "strategies",
    )

    def __init__(
        self,
        kind: NodeKind,
        *,
        fields: Mapping[str, Node] | None = None,
        resolve: Callable[[], Mapping[str, Node]] | None = None,
        elem: Node | None = None,
        list_type: ListType = "atomic",
        keys: tuple[str, ...] = (),
        merge_key: str = "",
        strategies: frozenset[str] = frozenset(),
        atomic: bool = False,
    ) -> None:
        self.kind = kind
        self._fields = fields
        self._resolve = resolve
        self.elem = elem
        self.list_type = list_type
        self.keys = keys
        self.merge_key = merge_key
        self.strategies = strategies
        self.atomic = atomic

    @property
    def fields(self) -> Mapping[str, Node]:
        if self._fields is None:
            self._fields = self._resolve() if self._resolve else {}
        return self._fields

    def field(self, name: str) -> Node:
        """The node of a struct field or map value; unknown fields are untyped."""
        if self.kind == "struct":
            return self.fields.get(name, UNTYPED)
        if self.kind == "map" and self.elem is not None:
            return self.elem
        return UNTYPED

    def item(self) -> Node:
        return self.elem if self.kind == "list" and self.elem is not None else UNTYPED

    def __repr__(self) -> str:
        return f"Node({self.kind}, list_type={self.list_type}, keys={self.keys})"


UNTYPED = Node("any")
SCALAR = Node("scalar")


def _from_compact(compact: Mapping[str, Any], definitions: Mapping[str, Any]) -> Node:
    strategies = frozenset(s for s in str(compact.get("ps", "")).split(",") if s)
    common: dict[str, Any] = {
        "merge_key": str(compact.get("mk", "")),
        "strategies": strategies,
        "atomic": bool(compact.get("atomic")),
    }
    if "ref" in compact:
        definition = definitions[compact["ref"]]
        common["atomic"] = common["atomic"] or bool(definition.get("atomic"))
        return Node(
            "struct",
            resolve=lambda: {
                name: _from_compact(sub, definitions) for name, sub in definition["fields"].items()
            },
            **common,
        )
    if "map" in compact:
        return Node("map", elem=_from_compact(compact["map"], definitions), **common)
    if "list" in compact:
        return Node(
            "list",
            elem=_from_compact(compact["list"], definitions),
            list_type=compact["lt"],
            keys=tuple(compact.get("keys", ())),
            **common,
        )
    if compact.get("any"):
        return Node("any", **common)
    return Node("scalar", **common)


@cache
def _builtin() -> tuple[Mapping[str, str], Mapping[str, Any]]:
    from k3os.apiserver import _builtin_schema

    return _builtin_schema.KINDS, _builtin_schema.DEFINITIONS


@cache
def builtin_root(api_version: str, kind: str) -> Node | None:
    """The schema of a built-in kind, or ``None`` (a custom resource, or not served)."""
    kinds, definitions = _builtin()
    name = kinds.get(f"{api_version}/{kind}")
    if name is None:
        return None
    return _from_compact({"ref": name}, definitions)


def builtin_kinds() -> list[tuple[str, str]]:
    """Every ``(apiVersion, kind)`` with a built-in schema."""
    kinds, _ = _builtin()
    return [tuple(key.rsplit("/", 1)) for key in kinds]  # type: ignore[misc]


def node_from_openapi(schema: Mapping[str, Any] | None) -> Node:
    """A node from an OpenAPI v3 (CRD structural) schema and its ``x-kubernetes-*`` keys."""
    if not schema:
        return UNTYPED
    common: dict[str, Any] = {"atomic": schema.get("x-kubernetes-map-type") == "atomic"}
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        return Node("scalar")
    if kind == "array":
        list_type = schema.get("x-kubernetes-list-type", "atomic")
        return Node(
            "list",
            elem=node_from_openapi(schema.get("items")),
            list_type=list_type,
            keys=tuple(schema.get("x-kubernetes-list-map-keys", ())),
            **common,
        )
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties")
        if properties:
            return Node(
                "struct",
                fields={k: node_from_openapi(v) for k, v in properties.items()},
                **common,
            )
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            return Node("map", elem=node_from_openapi(extra), **common)
        return Node("any", **common)
    if kind is None:
        return UNTYPED
    return Node("scalar")


def custom_resource_root(schema: Mapping[str, Any] | None) -> Node:
    """The root node of a custom resource from its CRD version's ``openAPIV3Schema``:
    ``metadata`` is always the built-in ObjectMeta, whatever the schema says of it."""
    _, definitions = _builtin()
    top = node_from_openapi(schema)
    fields = dict(top.fields) if top.kind == "struct" else {}
    fields["apiVersion"] = SCALAR
    fields["kind"] = SCALAR
    fields["metadata"] = _from_compact({"ref": "meta.v1.ObjectMeta"}, definitions)
    return Node("struct", fields=fields)
