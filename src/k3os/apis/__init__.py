"""The project's own resource types (NodeConfig, Plan, ...) and their CRDs.

Pure data: pydantic models of the wire shapes, the label/annotation keys, and the CRD
manifests generated from the models. Importable without any server or client code; the
only room it uses is k3os.config, to check NodeConfig's config with the engine's rules.
"""

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
