"""NodeConfig's `spec.config` checked by the config engine itself (k3os.config).

The CRD keeps `spec.config` open (`x-kubernetes-preserve-unknown-fields`): config.yaml's
tolerant spelling (camelCase or snake_case, singular or plural, `key+` appends, a scalar
where a list is expected) cannot be written as a structural schema without the API server
pruning valid input. Instead the same code that reads config.yaml on a node checks it here,
for the NodeConfig controller and for admission.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from k3os.config import ConfigSchemaError, Origin, validate
from k3os.config.spelling import canonicalize


def _without_appends(value: Any) -> Any:
    """The layer minus its `key+` entries: what it sets on its own. Appends are checked
    after merging, where rules that look at the whole list (k3s_args' first word) hold."""
    if isinstance(value, dict):
        return {k: _without_appends(v) for k, v in value.items() if not k.endswith("+")}
    if isinstance(value, list):
        return [_without_appends(v) for v in value]
    return value


def canonical_config(config: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """Canonical spelling of one config layer (`+` suffixes kept for merging).

    Raises k3os.config.ConfigSchemaError naming `source`, the field path and what was
    expected, for unknown keys and for values that do not fit the schema.
    """
    data, _ = canonicalize(dict(config), {}, Origin(source))
    try:
        validate(_without_appends(data), {})
    except ConfigSchemaError as e:  # API data has no file positions: name the object
        raise ConfigSchemaError(Origin(source), e.path, e.expected) from e
    return data


def check_config(config: Mapping[str, Any]) -> None:
    """Validate a merged (canonical, `+`-free) config; raises ConfigSchemaError."""
    validate(dict(config), {})
