"""Showing a merged config: YAML/JSON dumps, per-value provenance, and the JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import yaml

from k3os.config.errors import Path_, dotted
from k3os.config.merge import Provenance
from k3os.config.schema import NodeConfig

SCHEMA_ID = "https://k3os.invalid/schemas/config.json"


def as_data(config: NodeConfig) -> dict[str, Any]:
    """The settings that some source set, as plain data with canonical keys."""
    return config.model_dump(mode="json", exclude_unset=True)


def dump_yaml(config: NodeConfig) -> str:
    return yaml.safe_dump(as_data(config), sort_keys=False, default_flow_style=False)


def dump_json(config: NodeConfig) -> str:
    return json.dumps(as_data(config), indent=2)


def _leaves(value: Any, path: Path_) -> list[tuple[Path_, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list) and value:
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))]
    return [(path, value)]


def explain(config: NodeConfig, provenance: Provenance) -> list[str]:
    """One line per value: `path = value    # origin`."""
    lines = []
    for path, value in _leaves(as_data(config), ()):
        if not path:
            continue
        origin = provenance.get(path)
        if origin is None:  # a coerced scalar (list of one) or an emptied container
            origin = next((o for p, o in provenance.items() if p[: len(path)] == path), None)
        if origin is None:
            origin = next(
                (provenance[path[:n]] for n in range(len(path), 0, -1) if path[:n] in provenance),
                None,
            )
        shown = json.dumps(value)
        lines.append(f"{dotted(path)} = {shown}    # {origin if origin else 'default'}")
    return lines


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the canonical config, generated from the models."""
    schema = NodeConfig.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
