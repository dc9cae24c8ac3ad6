"""`NodeConfig` and `RenderedNodeConfig` (`k3os.io/v1`, cluster-scoped): OS config from the cluster.

A NodeConfig carries part of a config.yaml for the nodes its selector matches. The
controller renders one `RenderedNodeConfig` per node (named after it) holding the merged
result, its hash and where each layer came from; the node's agent writes back what it
applied in the status, together with its own local config (the bottom layer).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from k3os.apis.meta import ApiModel, Condition, LabelSelector, ObjectMeta

CONFIG_SCHEMA: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
"""Schema of `spec.config`: kept open on purpose, see k3os.apis.configcheck; the config
engine checks it against docs/config-schema.json's rules on write (k3os's API server) and
when it is rendered."""

APPLIED = "Applied"
DEGRADED = "Degraded"


class NodeConfigSpec(ApiModel):
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="A part of config.yaml (same keys and spelling, see docs/config-schema.json), "
        "merged into matching nodes; checked by the config engine on write (k3os's API "
        "server) and when rendered.",
        json_schema_extra=CONFIG_SCHEMA,
    )
    node_selector: LabelSelector | None = Field(
        default=None, description="Nodes this config applies to; unset matches every node."
    )
    priority: int = Field(
        default=0, description="Higher priorities merge later and win; ties go by name."
    )


class NodeConfigStatus(ApiModel):
    observed_generation: int | None = None
    matched: int = 0
    updated: int = 0
    failed: int = 0
    pending: int = 0
    conditions: list[Condition] = Field(default_factory=list)


class NodeConfig(ApiModel):
    api_version: Literal["k3os.io/v1"] = "k3os.io/v1"
    kind: Literal["NodeConfig"] = "NodeConfig"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeConfigSpec = Field(default_factory=NodeConfigSpec)
    status: NodeConfigStatus = Field(default_factory=NodeConfigStatus)


class ConfigSource(ApiModel):
    """One layer of a rendered config, bottom first."""

    kind: Literal["Local", "NodeConfig"]
    name: str = ""
    priority: int = 0
    generation: int | None = None


class RenderedNodeConfigSpec(ApiModel):
    node_name: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict, json_schema_extra=CONFIG_SCHEMA)
    hash: str = Field(description="sha256 of the merged config in canonical JSON.")
    sources: list[ConfigSource] = Field(default_factory=list)


class RenderedNodeConfigStatus(ApiModel):
    """Written by the node's agent: what it applied, and its local (bottom-layer) config."""

    observed_hash: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    local_config: dict[str, Any] | None = Field(default=None, json_schema_extra=CONFIG_SCHEMA)


class RenderedNodeConfig(ApiModel):
    api_version: Literal["k3os.io/v1"] = "k3os.io/v1"
    kind: Literal["RenderedNodeConfig"] = "RenderedNodeConfig"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RenderedNodeConfigSpec
    status: RenderedNodeConfigStatus = Field(default_factory=RenderedNodeConfigStatus)
