"""Layering config.yaml mappings with the config engine's documented rules.

Objects merge key by key, scalars replace, lists replace, and a key written with a
trailing `+` appends its list to what the layers below hold (as k3s's config does;
a scalar below counts as a one-item list, as the config engine coerces it).
This is a rule-compatible copy kept here while k3os.config's merge lands; the NodeConfig
renderer takes the merge function as a parameter so the controller can pass that one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def merge_config(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: `overlay` layered over `base`. Neither input is changed."""
    result: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(key, str) and len(key) > 1 and key.endswith("+"):
            name = key[:-1]
            below = result.get(name)
            added = copy.deepcopy(value) if isinstance(value, list) else [copy.deepcopy(value)]
            if below is None:
                below = []
            result[name] = (below if isinstance(below, list) else [below]) + added
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge_config(result[key], value)
        elif isinstance(value, Mapping):
            result[key] = merge_config({}, value)
        else:
            result[key] = copy.deepcopy(value)
    return result
