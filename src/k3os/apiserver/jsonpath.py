"""The JSONPath subset CRD ``additionalPrinterColumns`` use (``.status.replicas``).

Supported: ``.field``, ``['field.with.dots']``, ``[N]`` (negative counts from the end),
``[*]``, and filters ``[?(@.a.b=="v")]`` with ``==``/``!=`` against a quoted string, a
number, ``true``/``false``; optional ``{...}`` braces around the whole. Not supported:
recursive descent ``..``, slices, unions and functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["JSONPath", "JSONPathError", "compile_jsonpath"]


class JSONPathError(ValueError):
    """A path outside the supported subset, with the position of the problem."""


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Index:
    index: int


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Filter:
    path: tuple[str, ...]
    negate: bool
    value: Any


_Step = _Field | _Index | _Wildcard | _Filter

_NAME = re.compile(r"[A-Za-z_$][-\w$]*")
_FILTER = re.compile(r"\?\(@((?:\.[A-Za-z_$][-\w$]*)+)\s*(==|!=)\s*(.+?)\s*\)")


@dataclass(frozen=True)
class JSONPath:
    text: str
    steps: tuple[_Step, ...]

    def find(self, obj: Any) -> list[Any]:
        """Every value the path selects, in document order."""
        return list(_walk(obj, self.steps))

    def first(self, obj: Any) -> Any:
        """The first value selected, or ``None``."""
        return next(iter(_walk(obj, self.steps)), None)


def _walk(value: Any, steps: tuple[_Step, ...]) -> Iterator[Any]:
    if not steps:
        yield value
        return
    step, rest = steps[0], steps[1:]
    if isinstance(step, _Field):
        if isinstance(value, dict) and step.name in value:
            yield from _walk(value[step.name], rest)
    elif isinstance(step, _Index):
        if isinstance(value, list) and -len(value) <= step.index < len(value):
            yield from _walk(value[step.index], rest)
    elif isinstance(step, _Wildcard):
        items = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            for item in items:
                yield from _walk(item, rest)
    elif isinstance(value, list):
        for item in value:
            found = next(_walk(item, tuple(_Field(n) for n in step.path)), _MISSING)
            if (found is not _MISSING and found == step.value) != step.negate:
                yield from _walk(item, rest)


_MISSING = object()


def _literal(text: str, where: str) -> Any:
    if text[:1] in ("'", '"') and text[-1:] == text[:1]:
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        raise JSONPathError(f"{where}: unsupported filter value {text!r}") from None


def compile_jsonpath(text: str) -> JSONPath:
    """Parse ``text``; :class:`JSONPathError` when it is outside the subset."""
    source = text.strip()
    if source.startswith("{") and source.endswith("}"):
        source = source[1:-1].strip()
    if source.startswith("$"):
        source = source[1:]
    if not source.startswith((".", "[")):
        raise JSONPathError(f"jsonPath {text!r} must start with '.' or '['")
    steps: list[_Step] = []
    i = 0
    while i < len(source):
        where = f"jsonPath {text!r} at {i}"
        if source.startswith("..", i):
            raise JSONPathError(f"{where}: recursive descent '..' is not supported")
        if source[i] == ".":
            match = _NAME.match(source, i + 1)
            if not match:
                raise JSONPathError(f"{where}: expected a field name after '.'")
            steps.append(_Field(match.group()))
            i = match.end()
            continue
        if source[i] != "[":
            raise JSONPathError(f"{where}: unexpected {source[i]!r}")
        end = _closing_bracket(source, i, where)
        inner = source[i + 1 : end].strip()
        steps.append(_bracket(inner, where))
        i = end + 1
    return JSONPath(text, tuple(steps))


def _closing_bracket(source: str, start: int, where: str) -> int:
    quote = ""
    for j in range(start + 1, len(source)):
        c = source[j]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "]":
            return j
    raise JSONPathError(f"{where}: unterminated '['")


def _bracket(inner: str, where: str) -> _Step:
    if inner == "*":
        return _Wildcard()
    if re.fullmatch(r"-?\d+", inner):
        return _Index(int(inner))
    if len(inner) >= 2 and inner[0] in "'\"" and inner[-1] == inner[0]:
        return _Field(inner[1:-1])
    match = _FILTER.fullmatch(inner)
    if match:
        path = tuple(match.group(1)[1:].split("."))
        return _Filter(path, match.group(2) == "!=", _literal(match.group(3), where))
    raise JSONPathError(f"{where}: unsupported expression [{inner}]")
