"""Rendering one node's config from the cluster's NodeConfigs, and summing up their status.

A node's rendered config is its own local config, then every NodeConfig whose selector
matches the node's labels, lowest priority first (ties by name), layered with the config
engine's own spelling rules and merge (k3os.config). It is rebuilt from scratch every
time, so removing a NodeConfig reverts what it set on the next render. A layer that does
not fit the schema stops the render (the node keeps what it has). The hash is sha256 over
the merged canonical config in canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from k3os.apis.configcheck import canonical_config, check_config
from k3os.apis.meta import Condition, find_condition, set_condition
from k3os.apis.nodeconfig import (
    APPLIED,
    DEGRADED,
    ConfigSource,
    NodeConfig,
    NodeConfigStatus,
    RenderedNodeConfig,
    RenderedNodeConfigSpec,
    RenderedNodeConfigStatus,
)
from k3os.config import ConfigError
from k3os.config import merge as config_merge
from k3os.controllers.decisions.errors import InvalidNodeConfig

Config = dict[str, Any]
MergeFn = Callable[[dict[str, Any], dict[str, Any]], Config]


class NormalizeFn(Protocol):
    """`(layer, *, source) -> canonical layer`; raises ConfigError when the layer is invalid."""

    def __call__(self, config: Mapping[str, Any], *, source: str) -> dict[str, Any]: ...


def config_hash(config: Mapping[str, Any]) -> str:
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Rendering:
    config: Config
    hash: str
    sources: tuple[ConfigSource, ...]

    def spec(self, node_name: str) -> RenderedNodeConfigSpec:
        return RenderedNodeConfigSpec(
            node_name=node_name, config=self.config, hash=self.hash, sources=list(self.sources)
        )


def matching_nodeconfigs(
    node_labels: Mapping[str, str], nodeconfigs: Iterable[NodeConfig]
) -> list[NodeConfig]:
    """The NodeConfigs that apply to a node, in merge order (priority, then name)."""
    labels = dict(node_labels)
    chosen = [
        nc
        for nc in nodeconfigs
        if nc.spec.node_selector is None or nc.spec.node_selector.matches(labels)
    ]
    return sorted(chosen, key=lambda nc: (nc.spec.priority, nc.metadata.name))


def render_node_config(
    node_labels: Mapping[str, str],
    local_config: Mapping[str, Any] | None,
    nodeconfigs: Iterable[NodeConfig],
    *,
    merge: MergeFn = config_merge,
    normalize: NormalizeFn = canonical_config,
) -> Rendering:
    """Merge the node's local config and its matching NodeConfigs.

    Each layer is first brought to canonical spelling (so `sshAuthorizedKeys` in one layer
    replaces `ssh_authorized_keys` in another) and checked. Raises InvalidNodeConfig
    naming the layer, field and what was expected.
    """
    layers: list[tuple[str, Mapping[str, Any], ConfigSource]] = []
    if local_config is not None:
        layers.append(("local config", local_config, ConfigSource(kind="Local")))
    for nc in matching_nodeconfigs(node_labels, nodeconfigs):
        source = ConfigSource(
            kind="NodeConfig",
            name=nc.metadata.name,
            priority=nc.spec.priority,
            generation=nc.metadata.generation,
        )
        layers.append((f"NodeConfig/{nc.metadata.name}", nc.spec.config, source))
    config: Config = {}
    for label, data, _ in layers:
        try:
            canonical = normalize(data, source=label)
        except ConfigError as e:
            raise InvalidNodeConfig(label, str(e)) from e
        config = merge(config, canonical)
    try:
        check_config(config)
    except ConfigError as e:
        raise InvalidNodeConfig("merged config", str(e)) from e
    sources = tuple(source for _, _, source in layers)
    return Rendering(config=config, hash=config_hash(config), sources=sources)


def node_apply_status(
    previous: RenderedNodeConfigStatus,
    applied_hash: str,
    error: str | None,
    now: datetime,
) -> RenderedNodeConfigStatus:
    """What the agent reports after trying to apply the rendered config `applied_hash`."""
    if error is None:
        applied = Condition(type=APPLIED, status="True", reason="Applied", message="")
        degraded = Condition(type=DEGRADED, status="False", reason="Applied", message="")
    else:
        applied = Condition(type=APPLIED, status="False", reason="ApplyFailed", message=error)
        degraded = Condition(type=DEGRADED, status="True", reason="ApplyFailed", message=error)
    conditions = set_condition(set_condition(previous.conditions, applied, now), degraded, now)
    return previous.model_copy(update={"observed_hash": applied_hash, "conditions": conditions})


def _node_state(rendered: RenderedNodeConfig | None, nc: NodeConfig) -> str:
    """'updated', 'failed' or 'pending' for one matched node."""
    if rendered is None or rendered.status.observed_hash != rendered.spec.hash:
        return "pending"
    current = any(
        s.kind == "NodeConfig"
        and s.name == nc.metadata.name
        and (nc.metadata.generation is None or s.generation == nc.metadata.generation)
        for s in rendered.spec.sources
    )
    if not current:
        return "pending"
    degraded = find_condition(rendered.status.conditions, DEGRADED)
    if degraded is not None and degraded.status == "True":
        return "failed"
    applied = find_condition(rendered.status.conditions, APPLIED)
    return "updated" if applied is not None and applied.status == "True" else "pending"


def nodeconfig_status(
    nodeconfig: NodeConfig,
    nodes: Mapping[str, Mapping[str, str]],
    rendered: Mapping[str, RenderedNodeConfig],
    now: datetime,
) -> NodeConfigStatus:
    """Matched / updated / failed / pending counts and conditions for one NodeConfig.

    `nodes` maps node name to labels; `rendered` maps node name to its RenderedNodeConfig.
    A node counts as updated once its agent reports the rendered hash that includes this
    NodeConfig's current generation, with Applied true.
    """
    selector = nodeconfig.spec.node_selector
    matched = sorted(
        n for n, labels in nodes.items() if selector is None or selector.matches(dict(labels))
    )
    states = {n: _node_state(rendered.get(n), nodeconfig) for n in matched}
    failed = sorted(n for n, s in states.items() if s == "failed")
    updated = sum(1 for s in states.values() if s == "updated")
    pending = len(matched) - updated - len(failed)
    old = nodeconfig.status.conditions
    if failed:
        first = rendered[failed[0]]
        why = find_condition(first.status.conditions, DEGRADED)
        detail = f"{failed[0]}: {why.message}" if why is not None else failed[0]
        degraded = Condition(
            type=DEGRADED,
            status="True",
            reason="ApplyFailed",
            message=f"{len(failed)} node(s) failed to apply ({detail})",
        )
    else:
        degraded = Condition(type=DEGRADED, status="False", reason="NoFailures", message="")
    done = pending == 0 and not failed
    updated_cond = Condition(
        type="Updated",
        status="True" if done else "False",
        reason="AllUpdated" if done else "Updating",
        message=f"{updated} of {len(matched)} matched node(s) updated",
    )
    conditions = set_condition(set_condition(old, updated_cond, now), degraded, now)
    return NodeConfigStatus(
        observed_generation=nodeconfig.metadata.generation,
        matched=len(matched),
        updated=updated,
        failed=len(failed),
        pending=pending,
        conditions=conditions,
    )
