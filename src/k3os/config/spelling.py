"""k3OS's tolerant spelling: key aliases and value coercions, applied before merging.

Every key may be written in snake_case, camelCase or lower case, singular or plural
(`ssh_authorized_key`, `sshAuthorizedKeys`, `datasource`, `sysctls`). A scalar where a list is
expected becomes a one-item list; values of string maps become strings. A key may end in `+`
(append to the list of an earlier source); `canonicalize` keeps that suffix for `merge`.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Union

from pydantic import BaseModel

from k3os.config.errors import ConfigSchemaError, Origin, Path_
from k3os.config.schema import NodeConfig, Wifi

Marks = dict[Path_, Origin]

# Aliases that the plural/singular and case rules cannot derive.
_EXTRA_ALIASES: dict[type[BaseModel], dict[str, str]] = {
    Wifi: {"ssid": "name", "pass": "passphrase", "password": "passphrase"},
}


def _squash(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _spellings(field: str) -> set[str]:
    base = _squash(field)
    forms = {base, base + "s"}
    if base.endswith("es"):
        forms.add(base[:-2])
    if base.endswith("s"):
        forms.add(base[:-1])
    return forms


def _table(model: type[BaseModel]) -> dict[str, str]:
    table: dict[str, str] = {}
    for name in model.model_fields:
        for form in _spellings(name):
            table.setdefault(form, name)
    for name in model.model_fields:  # an exact spelling always wins over a derived one
        table[_squash(name)] = name
    for alias, name in _EXTRA_ALIASES.get(model, {}).items():
        table[_squash(alias)] = name
    return table


_TABLES: dict[type[BaseModel], dict[str, str]] = {}


def canonical_key(model: type[BaseModel], key: str) -> str | None:
    """The field of `model` that `key` spells, or None."""
    table = _TABLES.get(model)
    if table is None:
        table = _TABLES[model] = _table(model)
    return table.get(_squash(key))


def strip_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models:
            return models[0]
        return args[0] if len(args) == 1 else annotation
    if origin is typing.Annotated:
        return strip_optional(typing.get_args(annotation)[0])
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


class _Walker:
    def __init__(self, marks: Marks, fallback: Origin) -> None:
        self.marks = marks
        self.out_marks: Marks = {}
        self.fallback = fallback

    def origin(self, path: Path_) -> Origin:
        return self.marks.get(path, self.fallback)

    def model(self, model: type[BaseModel], data: Any, src: Path_, dst: Path_) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ConfigSchemaError(self.origin(src), dst, "expected a mapping of settings")
        self.out_marks[dst] = self.origin(src)
        out: dict[str, Any] = {}
        seen: set[str] = set()
        for key, value in data.items():
            raw = str(key)
            append = raw.endswith("+")
            name = canonical_key(model, raw[:-1] if append else raw)
            if name is None:
                known = ", ".join(sorted(model.model_fields))
                raise ConfigSchemaError(
                    self.origin((*src, key)), (*dst, raw), f"unknown key; expected one of: {known}"
                )
            out_key = name + "+" if append else name
            if name in seen:
                raise ConfigSchemaError(
                    self.origin((*src, key)), (*dst, name), "set twice under different spellings"
                )
            annotation = strip_optional(model.model_fields[name].annotation)
            if append and typing.get_origin(annotation) is not list:
                raise ConfigSchemaError(
                    self.origin((*src, key)), (*dst, raw), "a trailing '+' appends to lists only"
                )
            seen.add(name)
            out[out_key] = self.value(annotation, value, (*src, key), (*dst, name))
        return out

    def value(self, annotation: Any, value: Any, src: Path_, dst: Path_) -> Any:
        self.out_marks[dst] = self.origin(src)
        if value is None:
            return None
        origin = typing.get_origin(annotation)
        if _is_model(annotation):
            return self.model(annotation, value, src, dst)
        if origin is list:
            (item,) = typing.get_args(annotation)
            item = strip_optional(item)
            if not isinstance(value, list):  # k3OS: a scalar where a list is expected
                return [self.value(item, value, src, (*dst, 0))]
            return [self.value(item, v, (*src, i), (*dst, i)) for i, v in enumerate(value)]
        if origin is dict:
            _, item = typing.get_args(annotation)
            item = strip_optional(item)
            if not isinstance(value, dict):
                raise ConfigSchemaError(self.origin(src), dst, "expected a mapping")
            if item is str:
                for k in value:
                    self.out_marks[(*dst, str(k))] = self.origin((*src, k))
                return {str(k): _stringify(v) for k, v in value.items()}
            return {
                str(k): self.value(item, v, (*src, k), (*dst, str(k))) for k, v in value.items()
            }
        return value


def _stringify(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def canonicalize(
    data: dict[str, Any], marks: Marks, fallback: Origin
) -> tuple[dict[str, Any], Marks]:
    """Rename every key to its canonical spelling and coerce values; keep `+` suffixes.

    Returns the new data and the positions re-keyed to canonical paths. Raises
    ConfigSchemaError for unknown keys, a `+` on a non-list, and a key spelled twice.
    """
    walker = _Walker(marks, fallback)
    out = walker.model(NodeConfig, data, (), ())
    return out, walker.out_marks
