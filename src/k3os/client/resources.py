"""Resource types as data: group, version, plural, kind, scope, and the URL paths they use.

The built-in kinds the controllers and the agent need are named here; anything else
(custom resources included) comes from discovery (`Kube.discover`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

__all__ = [
    "CONFIG_MAPS",
    "EVENTS",
    "LEASES",
    "NAMESPACES",
    "NODES",
    "PODS",
    "SERVICE_ACCOUNTS",
    "ResourceType",
    "object_key",
]

Obj = dict[str, Any]


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str = "", name: str = "", subresource: str = "") -> str:
        """`/api/v1/namespaces/ns/pods/name/status` and its shorter forms."""
        parts = ["/api", self.version] if not self.group else ["/apis", self.group, self.version]
        if self.namespaced and namespace:
            parts += ["namespaces", quote(namespace, safe="")]
        parts.append(self.plural)
        if name:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def object_key(obj: Obj) -> tuple[str, str]:
    """(namespace, name) of an object; namespace is "" for cluster-scoped ones."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


NAMESPACES = ResourceType("", "v1", "namespaces", "Namespace", False)
NODES = ResourceType("", "v1", "nodes", "Node", False)
PODS = ResourceType("", "v1", "pods", "Pod", True)
CONFIG_MAPS = ResourceType("", "v1", "configmaps", "ConfigMap", True)
SERVICE_ACCOUNTS = ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True)
EVENTS = ResourceType("", "v1", "events", "Event", True)
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True)
