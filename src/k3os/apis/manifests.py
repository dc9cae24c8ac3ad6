"""Loading our kinds from YAML or JSON with errors that say where and what was expected.

    InvalidObject    a manifest does not fit its kind: file:line, kind/name, field path

`load_objects(text, file=...)` reads a multi-document YAML file and returns typed objects
(NodeConfig, RenderedNodeConfig, Plan); any other kind is returned as a plain dict.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from k3os.apis.nodeconfig import NodeConfig, RenderedNodeConfig
from k3os.apis.plan import Plan

KINDS: dict[tuple[str, str], type[BaseModel]] = {
    ("k3os.io/v1", "NodeConfig"): NodeConfig,
    ("k3os.io/v1", "RenderedNodeConfig"): RenderedNodeConfig,
    ("upgrade.cattle.io/v1", "Plan"): Plan,
}


class InvalidObject(ValueError):
    """One line: `file:line: Kind/name: field.path: what was expected`."""

    def __init__(self, where: str, kind: str, name: str, field: str, problem: str) -> None:
        self.where = where
        self.kind = kind
        self.name = name
        self.field = field
        self.problem = problem
        subject = f"{kind}/{name}" if name else kind
        super().__init__(f"{where}: {subject}: {field}: {problem}")


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest node along `loc` in a composed YAML tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def load_object(data: Any, *, where: str = "<object>", node: yaml.Node | None = None) -> Any:
    """Validate one decoded manifest as its kind; unknown kinds come back unchanged."""
    if not isinstance(data, dict):
        raise InvalidObject(where, "?", "", "(top level)", "expected a mapping")
    key = (str(data.get("apiVersion", "")), str(data.get("kind", "")))
    model = KINDS.get(key)
    if model is None:
        return data
    name = str((data.get("metadata") or {}).get("name", ""))
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = tuple(first["loc"])
        line = _line_of(node, loc)
        at = f"{where}:{line}" if line is not None else where
        problem = first["msg"].removeprefix("Value error, ")
        raise InvalidObject(at, key[1], name, _dotted(loc), problem) from e


def load_objects(text: str, *, file: str = "<text>") -> list[Any]:
    """Every document of a YAML text, typed where the kind is ours; empty documents skipped."""
    out: list[Any] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"{file}:{mark.line + 1}" if mark else file
        raise InvalidObject(where, "?", "", "(yaml)", str(e.problem)) from e
    for node in nodes:
        data = yaml.SafeLoader("").construct_document(node)
        if data is None:
            continue
        out.append(load_object(data, where=file, node=node))
    return out
