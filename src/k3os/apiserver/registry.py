"""The resource kinds the server knows: names, scope, verbs, subresources, storage keys.

A `ResourceType` is the one description every other module reads: discovery lists it,
OpenAPI documents it, handlers route and validate by it, and storage keys follow
kube-apiserver's layout (`/registry/<resource>/<namespace>/<name>`, or
`/registry/<resource>/<name>` when cluster-scoped).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BUILTINS", "Registry", "ResourceType", "Subresource"]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
EVENT_TTL = 3600  # seconds an Event lives after its last write, unless `--event-ttl` says


@dataclass(frozen=True)
class Subresource:
    """A subresource such as `pods/status`; `kind` is what its body and answer carry."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""  # set when the body's group differs from the parent's (pods/eviction)
    version: str = ""


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    definition: str  # the OpenAPI definition name, e.g. io.k8s.api.core.v1.Pod
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    storage_resource: str = ""  # shared storage (events.k8s.io events live with core events)
    has_generation: bool = False
    # Objects expire this long after their last write (Events; the server's --event-ttl
    # replaces it, ObjectStore.ttl).
    ttl_seconds: int | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    custom: Any = field(default=None, compare=False, hash=False)  # crd.CustomVersion of a CR

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def storage_name(self) -> str:
        return self.storage_resource or self.plural

    @property
    def qualified(self) -> str:
        """`pods`, `leases.coordination.k8s.io`: how errors name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    def has_status(self) -> bool:
        return self.subresource("status") is not None

    def key(self, namespace: str, name: str) -> str:
        if self.namespaced:
            return f"/registry/{self.storage_name}/{namespace}/{name}"
        return f"/registry/{self.storage_name}/{name}"

    def prefix(self, namespace: str = "") -> str:
        """The key prefix of every object (in `namespace` when given)."""
        if self.namespaced and namespace:
            return f"/registry/{self.storage_name}/{namespace}/"
        return f"/registry/{self.storage_name}/"


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, ("get", "patch", "update"))


_RBAC = "rbac.authorization.k8s.io"

BUILTINS: tuple[ResourceType, ...] = (
    ResourceType(
        "", "v1", "Namespace", "namespaces", "namespace", False,
        "io.k8s.api.core.v1.Namespace", ("ns",),
        subresources=(_status("Namespace"), Subresource("finalize", "Namespace", ("update",))),
    ),
    ResourceType(
        "", "v1", "Node", "nodes", "node", False, "io.k8s.api.core.v1.Node", ("no",),
        subresources=(_status("Node"),),
    ),
    ResourceType(
        "", "v1", "ConfigMap", "configmaps", "configmap", True,
        "io.k8s.api.core.v1.ConfigMap", ("cm",),
    ),
    ResourceType(
        "", "v1", "Secret", "secrets", "secret", True, "io.k8s.api.core.v1.Secret",
    ),
    ResourceType(
        "", "v1", "Event", "events", "event", True, "io.k8s.api.core.v1.Event", ("ev",),
        ttl_seconds=EVENT_TTL,
    ),
    ResourceType(
        "", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True,
        "io.k8s.api.core.v1.ServiceAccount", ("sa",),
    ),
    ResourceType(
        "", "v1", "Pod", "pods", "pod", True, "io.k8s.api.core.v1.Pod", ("po",), ("all",),
        subresources=(
            _status("Pod"),
            Subresource("eviction", "Eviction", ("create",), group="policy", version="v1"),
        ),
        has_generation=True,
    ),
    ResourceType(
        "events.k8s.io", "v1", "Event", "events", "event", True,
        "io.k8s.api.events.v1.Event", ("ev",), ttl_seconds=EVENT_TTL,
    ),
    ResourceType(
        "coordination.k8s.io", "v1", "Lease", "leases", "lease", True,
        "io.k8s.api.coordination.v1.Lease",
    ),
    ResourceType(
        "policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget",
        True, "io.k8s.api.policy.v1.PodDisruptionBudget", ("pdb",),
        subresources=(_status("PodDisruptionBudget"),), has_generation=True,
    ),
    ResourceType(
        _RBAC, "v1", "Role", "roles", "role", True, "io.k8s.api.rbac.v1.Role",
    ),
    ResourceType(
        _RBAC, "v1", "RoleBinding", "rolebindings", "rolebinding", True,
        "io.k8s.api.rbac.v1.RoleBinding",
    ),
    ResourceType(
        _RBAC, "v1", "ClusterRole", "clusterroles", "clusterrole", False,
        "io.k8s.api.rbac.v1.ClusterRole",
    ),
    ResourceType(
        _RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", False,
        "io.k8s.api.rbac.v1.ClusterRoleBinding",
    ),
    ResourceType(
        "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
        "customresourcedefinition", False,
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        ("crd", "crds"), ("api-extensions",),
        subresources=(_status("CustomResourceDefinition"),), has_generation=True,
    ),
)  # fmt: skip


class Registry:
    """The served resource types, looked up by group/version/plural or by kind."""

    def __init__(self, types: Iterable[ResourceType] = BUILTINS) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self.revision = 0  # bumped on every change (OpenAPI documents are cached by it)
        for rt in types:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        self.revision += 1

    def remove(self, group: str, version: str, plural: str) -> None:
        if self._by_path.pop((group, version, plural), None) is not None:
            self.revision += 1

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._by_path.values())

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def group_versions(self) -> dict[str, list[str]]:
        """group -> its versions (the core group is "")."""
        out: dict[str, list[str]] = {}
        for rt in self:
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self if rt.group == group and rt.version == version]
