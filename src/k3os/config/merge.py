"""Layering config sources: later wins, objects merge by key, `key+` appends to a list.

Rules (the same as k3s's config files):
- two mappings merge key by key, recursively;
- a scalar or a list replaces what was there;
- a key written with a trailing `+` appends its list to the list set by earlier sources
  (with nothing earlier, it simply sets it).

`merge` is pure and works on canonical data; `merge_layers` also records, for every value,
the source that set it (what `k3os config --explain` prints).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from k3os.config.errors import Origin, Path_

Provenance = dict[Path_, Origin]


@dataclass
class Layer:
    """One source's canonical data, and where each value was written."""

    name: str
    data: dict[str, Any]
    marks: dict[Path_, Origin] = field(default_factory=dict)

    def origin_at(self, path: Path_) -> Origin:
        for end in range(len(path), -1, -1):
            found = self.marks.get(path[:end])
            if found is not None:
                return found
        return Origin(self.name)


def _plain(value: Any) -> Any:
    """Drop `+` suffixes below a value that has nothing to append to."""
    if isinstance(value, dict):
        return {k.removesuffix("+"): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


def _leaves(value: Any, path: Path_) -> Iterable[Path_]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path


def _merge(
    base: dict[str, Any], over: dict[str, Any], path: Path_, layer: Layer | None, prov: Provenance
) -> dict[str, Any]:
    out = dict(base)
    for raw, value in over.items():
        append = raw.endswith("+")
        key = raw.removesuffix("+")
        here = (*path, key)
        local = (*path, key)  # canonical paths are the same in the layer and the result
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = _merge(old, value, here, layer, prov)
            continue
        if append and isinstance(value, list) and isinstance(old, list):
            start = len(old)
            out[key] = old + _plain(value)
            if layer is not None:
                prov.pop(here, None)  # an empty list had a leaf of its own
                for i in range(len(value)):
                    for leaf in _leaves(value[i], ()):
                        prov[(*here, start + i, *leaf)] = layer.origin_at((*local, i, *leaf))
            continue
        out[key] = _plain(value)
        if layer is not None:
            for stale in [p for p in prov if p[: len(here)] == here]:
                del prov[stale]
            for leaf in _leaves(out[key], ()):
                prov[(*here, *leaf)] = layer.origin_at((*local, *leaf))
    return out


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Merge `overlay` over `base` (both canonical config data); neither is modified."""
    return _merge(_plain(base), overlay, (), None, {})


def merge_layers(layers: Iterable[Layer]) -> tuple[dict[str, Any], Provenance]:
    """Merge layers in order (later wins); return the data and each leaf value's origin."""
    data: dict[str, Any] = {}
    prov: Provenance = {}
    for layer in layers:
        data = _merge(data, layer.data, (), layer, prov)
    return data, prov
