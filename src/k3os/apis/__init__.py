"""The project's own resource types (NodeConfig, Plan, ...) and their CRDs.

Pure data: pydantic models of the wire shapes, the label/annotation keys, and the CRD
manifests generated from the models. Importable without any server or client code; the
only room it uses is k3os.config, to check NodeConfig's config with the engine's rules.

Each name is imported from its module on first use: a node agent that needs a few keys
and the upgrade hand-off does not load the CRD models or the config engine.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:  # pragma: no cover
    from k3os.apis.configcheck import canonical_config, check_config
    from k3os.apis.crds import crd_manifests, shipped_crds
    from k3os.apis.duration import Duration, format_duration, parse_duration
    from k3os.apis.manifests import InvalidObject, load_object, load_objects
    from k3os.apis.meta import (
        Condition,
        LabelSelector,
        LabelSelectorRequirement,
        ObjectMeta,
        Toleration,
        find_condition,
        set_condition,
    )
    from k3os.apis.nodeconfig import (
        ConfigSource,
        NodeConfig,
        NodeConfigSpec,
        NodeConfigStatus,
        RenderedNodeConfig,
        RenderedNodeConfigSpec,
        RenderedNodeConfigStatus,
    )
    from k3os.apis.noderecord import NodeUpgradeRecord, read_record, record_patch, retry_token
    from k3os.apis.plan import (
        CanarySpec,
        ContainerSpec,
        DrainSpec,
        EnvVar,
        HealthGate,
        Plan,
        PlanSpec,
        PlanStatus,
        SecretSpec,
        TimeWindow,
    )

_MODULES: dict[str, tuple[str, ...]] = {
    "configcheck": ("canonical_config", "check_config"),
    "crds": ("crd_manifests", "shipped_crds"),
    "duration": ("Duration", "format_duration", "parse_duration"),
    "manifests": ("InvalidObject", "load_object", "load_objects"),
    "meta": (
        "Condition",
        "LabelSelector",
        "LabelSelectorRequirement",
        "ObjectMeta",
        "Toleration",
        "find_condition",
        "set_condition",
    ),
    "nodeconfig": (
        "ConfigSource",
        "NodeConfig",
        "NodeConfigSpec",
        "NodeConfigStatus",
        "RenderedNodeConfig",
        "RenderedNodeConfigSpec",
        "RenderedNodeConfigStatus",
    ),
    "noderecord": ("NodeUpgradeRecord", "read_record", "record_patch", "retry_token"),
    "plan": (
        "CanarySpec",
        "ContainerSpec",
        "DrainSpec",
        "EnvVar",
        "HealthGate",
        "Plan",
        "PlanSpec",
        "PlanStatus",
        "SecretSpec",
        "TimeWindow",
    ),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "CanarySpec",
    "Condition",
    "ConfigSource",
    "ContainerSpec",
    "DrainSpec",
    "Duration",
    "EnvVar",
    "HealthGate",
    "InvalidObject",
    "LabelSelector",
    "LabelSelectorRequirement",
    "NodeConfig",
    "NodeConfigSpec",
    "NodeConfigStatus",
    "NodeUpgradeRecord",
    "ObjectMeta",
    "Plan",
    "PlanSpec",
    "PlanStatus",
    "RenderedNodeConfig",
    "RenderedNodeConfigSpec",
    "RenderedNodeConfigStatus",
    "SecretSpec",
    "TimeWindow",
    "Toleration",
    "canonical_config",
    "check_config",
    "crd_manifests",
    "find_condition",
    "format_duration",
    "load_object",
    "load_objects",
    "parse_duration",
    "read_record",
    "record_patch",
    "retry_token",
    "set_condition",
    "shipped_crds",
]


def __getattr__(name: str) -> _Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
