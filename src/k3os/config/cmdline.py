"""The kernel command line as a config source.

Tokens are separated by blanks; double quotes group (`k3os.password="a b"` or
`"k3os.password=a b"`). `k3os.a.b=v` becomes `{"k3os": {"a": {"b": "v"}}}`, a repeated key
builds a list, and a bare key means `"true"`. Besides `k3os.*`, any top-level config key
(`hostname=…`, `init_cmd=…`) is taken, as k3OS did; every other kernel parameter
(`console=`, `root=`, `quiet`) is ignored.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from k3os.config.errors import ConfigSchemaError, Origin, Path_
from k3os.config.schema import NodeConfig
from k3os.config.spelling import canonical_key, strip_optional

SOURCE = "kernel command line"


def split_cmdline(text: str) -> list[str]:
    """Split like the kernel: blanks separate, double quotes group and are removed."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = in_token = False
    for char in text:
        if char == '"':
            quoted = not quoted
            in_token = True
        elif char.isspace() and not quoted:
            if in_token:
                tokens.append("".join(current))
            current, in_token = [], False
        else:
            current.append(char)
            in_token = True
    if in_token:
        tokens.append("".join(current))
    return tokens


def _wanted(key: str) -> bool:
    head = key.split(".", 1)[0]
    return canonical_key(NodeConfig, head.removesuffix("+")) is not None


def _key_parts(key: str) -> list[str]:
    """Split a dotted key; below a string map (`sysctl`, `labels`…) the rest is one key.

    `k3os.sysctl.vm.max_map_count` and `k3os.sysctl[vm.max_map_count]` are the same.
    """
    if key.endswith("]") and "[" in key:
        prefix, _, inner = key[:-1].partition("[")
        return [*prefix.split("."), inner]
    parts = key.split(".")
    model: type[BaseModel] = NodeConfig
    for i, part in enumerate(parts[:-1]):
        name = canonical_key(model, part.removesuffix("+"))
        if name is None:
            break
        annotation = strip_optional(model.model_fields[name].annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
            continue
        if typing.get_origin(annotation) is dict:
            return [*parts[: i + 1], ".".join(parts[i + 1 :])]
        break
    return parts


def parse_cmdline(text: str) -> tuple[dict[str, Any], dict[Path_, Origin]]:
    """Parse a kernel command line into config data and each value's origin."""
    data: dict[str, Any] = {}
    marks: dict[Path_, Origin] = {}
    for token in split_cmdline(text):
        key, sep, value = token.partition("=")
        if not key or not _wanted(key):
            continue
        parts = _key_parts(key)
        if any(not p for p in parts):
            raise ConfigSchemaError(Origin(SOURCE, detail=token), tuple(parts), "empty key part")
        origin = Origin(SOURCE, detail=token)
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigSchemaError(
                    origin, tuple(parts[: i + 1]), "set both as a value and as a group"
                )
            marks.setdefault(tuple(parts[: i + 1]), origin)
            node = child
        leaf = parts[-1]
        item = value if sep else "true"
        path = tuple(parts)
        if leaf not in node:
            node[leaf] = item
            marks[path] = origin
        elif isinstance(node[leaf], dict):
            raise ConfigSchemaError(origin, path, "set both as a value and as a group")
        else:
            if not isinstance(node[leaf], list):
                node[leaf] = [node[leaf]]
                marks[(*path, 0)] = marks[path]
            marks[(*path, len(node[leaf]))] = origin
            node[leaf].append(item)
    return data, marks


def _quote(token: str) -> str:
    return f'"{token}"' if any(c.isspace() for c in token) or not token else token


def format_cmdline(settings: Mapping[str, str | bool | Sequence[str]]) -> str:
    """Render dotted keys as kernel parameters; the inverse of `parse_cmdline`.

    `True` renders a bare key, a list repeats the key. Values may not contain `"`.
    """
    tokens: list[str] = []
    for key, value in settings.items():
        values = [value] if isinstance(value, str | bool) else list(value)
        for item in values:
            if item is True:
                tokens.append(key)
                continue
            text = str(item)
            if '"' in text or '"' in key:
                raise ValueError(f"kernel parameters cannot contain '\"': {key}")
            tokens.append(
                f'{key}="{text}"' if any(c.isspace() for c in text) or not text else f"{key}={text}"
            )
    return " ".join(tokens)
