"""The Node authorizer: what a node's own credentials may do, and nothing more.

A node is the user `system:node:<name>` in the group `system:nodes` (the certificate the
join endpoint issues). For such a user `NodeAuthorizer` allows:
- nodes: get, list, watch, create (admission checks the name); update, patch, delete of
  its own Node, and get, update, patch of its own `nodes/status`;
- leases (`coordination.k8s.io`) in `kube-node-lease`: create (admission checks the name),
  and get, watch, update, patch, delete of the Lease named after the node;
- events (core and `events.k8s.io`): create, update, patch;
- pods: get, list, watch; `pods/status` get, update, patch for pods bound to the node;
- secrets, configmaps, persistentvolumeclaims: get (and list/watch narrowed to one name)
  when a pod bound to the node references them; `serviceaccounts/token` create for the
  ServiceAccounts of those pods;
- certificatesigningrequests: create, get, list, watch;
- plans (`upgrade.cattle.io`): get, list, watch — the agent runs the OS upgrades;
- objects addressed to the node (`ADDRESSED_RESOURCES`, named after the node): get,
  list/watch by name, and get, update, patch of their `status`.
Everything else gets NO_OPINION with a reason, so RBAC decides (and the bootstrap policy
grants nodes nothing beyond discovery). Non-node users always get NO_OPINION.

Which pods use which objects comes from a `NodeGraph`; `PodGraph` builds one from pod
objects and is kept current by the server's pod watch (`set_pod` / `delete_pod`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from k3os.security.authn import UserInfo
from k3os.security.authz import Attributes, Decision, Rules, Verdict

__all__ = [
    "ADDRESSED_RESOURCES",
    "NODES_GROUP",
    "NODE_LEASE_NAMESPACE",
    "NODE_USER_PREFIX",
    "AddressedResource",
    "NodeAuthorizer",
    "NodeGraph",
    "PodGraph",
    "node_name_of",
    "node_user",
    "pod_references",
]

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
NODE_LEASE_NAMESPACE = "kube-node-lease"
READ = frozenset({"get", "list", "watch"})
WRITE_STATUS = frozenset({"get", "update", "patch"})

Obj = Mapping[str, Any]


def node_user(node: str) -> UserInfo:
    """The identity a node's client certificate carries."""
    return UserInfo(f"{NODE_USER_PREFIX}{node}", "", (NODES_GROUP,))


def node_name_of(user: UserInfo) -> str | None:
    """The node name if `user` is a node identity (name prefix and group), else None."""
    if not user.name.startswith(NODE_USER_PREFIX) or not user.in_group(NODES_GROUP):
        return None
    return user.name[len(NODE_USER_PREFIX) :] or None


@dataclass(frozen=True)
class AddressedResource:
    """A resource whose object named after a node belongs to that node."""

    group: str
    resource: str


# The rendered per-node OS configuration that the NodeConfig controller writes.
ADDRESSED_RESOURCES = (AddressedResource("k3os.io", "renderednodeconfigs"),)


class NodeGraph(Protocol):
    """The relations the Node authorizer needs, kept by the server from its pod watch."""

    def pod_node(self, namespace: str, name: str) -> str | None:
        """The node a pod is bound to (spec.nodeName), None if unknown or unbound."""
        ...

    def node_uses(self, node: str, resource: str, namespace: str, name: str) -> bool:
        """Whether a pod bound to `node` references the object (secrets, configmaps, ...)."""
        ...


def _names(items: object, key: str) -> set[str]:
    if not isinstance(items, list):
        return set()
    return {str(i[key]) for i in items if isinstance(i, Mapping) and i.get(key)}


def _env_refs(container: Obj) -> set[tuple[str, str]]:
    refs: set[tuple[str, str]] = set()
    for source in container.get("envFrom") or ():
        for kind, resource in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
            ref = source.get(kind) or {}
            if ref.get("name"):
                refs.add((resource, ref["name"]))
    for env in container.get("env") or ():
        value_from = env.get("valueFrom") or {}
        for kind, resource in (("secretKeyRef", "secrets"), ("configMapKeyRef", "configmaps")):
            ref = value_from.get(kind) or {}
            if ref.get("name"):
                refs.add((resource, ref["name"]))
    return refs


def _volume_refs(volume: Obj) -> set[tuple[str, str]]:
    refs: set[tuple[str, str]] = set()
    if (volume.get("secret") or {}).get("secretName"):
        refs.add(("secrets", volume["secret"]["secretName"]))
    if (volume.get("configMap") or {}).get("name"):
        refs.add(("configmaps", volume["configMap"]["name"]))
    if (volume.get("persistentVolumeClaim") or {}).get("claimName"):
        refs.add(("persistentvolumeclaims", volume["persistentVolumeClaim"]["claimName"]))
    for source in (volume.get("projected") or {}).get("sources") or ():
        if (source.get("secret") or {}).get("name"):
            refs.add(("secrets", source["secret"]["name"]))
        if (source.get("configMap") or {}).get("name"):
            refs.add(("configmaps", source["configMap"]["name"]))
    return refs


def pod_references(pod: Obj) -> set[tuple[str, str]]:
    """(resource, name) pairs in the pod's namespace that its node must be able to read."""
    spec = pod.get("spec") or {}
    refs = {("serviceaccounts", spec.get("serviceAccountName") or "default")}
    refs |= {("secrets", n) for n in _names(spec.get("imagePullSecrets"), "name")}
    for volume in spec.get("volumes") or ():
        refs |= _volume_refs(volume)
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or ():
            refs |= _env_refs(container)
    return refs


@dataclass
class PodGraph:
    """A NodeGraph over pod objects; feed it every pod add/update/delete.

    Indexed by node, so a lookup costs the number of pods on that node, not in the cluster.
    """

    _node_of: dict[tuple[str, str], str] = field(default_factory=dict)
    _by_node: dict[str, dict[tuple[str, str], frozenset[tuple[str, str]]]] = field(
        default_factory=dict
    )

    @classmethod
    def from_pods(cls, pods: Iterable[Obj]) -> PodGraph:
        graph = cls()
        for pod in pods:
            graph.set_pod(pod)
        return graph

    def set_pod(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        self.delete_pod(*key)
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if node:
            self._node_of[key] = node
            self._by_node.setdefault(node, {})[key] = frozenset(pod_references(pod))

    def delete_pod(self, namespace: str, name: str) -> None:
        node = self._node_of.pop((namespace, name), None)
        if node is not None:
            pods = self._by_node[node]
            del pods[(namespace, name)]
            if not pods:
                del self._by_node[node]

    def pod_node(self, namespace: str, name: str) -> str | None:
        return self._node_of.get((namespace, name))

    def node_uses(self, node: str, resource: str, namespace: str, name: str) -> bool:
        return any(
            pod_ns == namespace and (resource, name) in refs
            for (pod_ns, _), refs in self._by_node.get(node, {}).items()
        )


_STATIC: dict[tuple[str, str], frozenset[str]] = {
    ("", "nodes"): READ | {"create"},
    ("", "events"): frozenset({"create", "update", "patch"}),
    ("events.k8s.io", "events"): frozenset({"create", "update", "patch"}),
    ("", "pods"): READ,
    ("certificates.k8s.io", "certificatesigningrequests"): READ | {"create"},
    ("upgrade.cattle.io", "plans"): READ,
}
_OWN_LEASE = READ | {"update", "patch", "delete"}
_GRAPH_READ = frozenset({"secrets", "configmaps", "persistentvolumeclaims"})


class NodeAuthorizer:
    """See the module docstring for exactly what a node may do."""

    def __init__(
        self,
        graph: NodeGraph,
        addressed: Iterable[AddressedResource] = ADDRESSED_RESOURCES,
    ) -> None:
        self._graph = graph
        self._addressed = {(a.group, a.resource) for a in addressed}

    def rules_for(self, user: UserInfo, namespace: str) -> Rules:
        """What a node may do depends on the objects bound to it (its pods, their secrets),
        not on rules: as upstream, a node's list is marked incomplete."""
        if node_name_of(user) is None:
            return Rules()
        return Rules(incomplete=True, error="node authorizer does not support user rule resolution")

    def authorize(self, attrs: Attributes) -> Decision:
        node = node_name_of(attrs.user)
        if node is None or not attrs.is_resource_request:
            return Decision(Verdict.NO_OPINION)
        why = self._refusal(node, attrs)
        if why:
            return Decision(Verdict.NO_OPINION, f'node "{node}" {why}')
        return Decision(Verdict.ALLOW, f'Node: allowed for node "{node}"')

    def _refusal(self, node: str, a: Attributes) -> str:
        """ "" when allowed, else why not (completing `node "<n>" ...`)."""
        key = (a.api_group, a.resource)
        own = a.name == node
        if not a.subresource and a.verb in _STATIC.get(key, ()):
            return ""
        if key == ("", "nodes"):
            if a.subresource == "status" and a.verb in WRITE_STATUS and own:
                return ""
            if not a.subresource and a.verb in {"update", "patch", "delete"} and own:
                return ""
            return f'cannot {a.verb} node "{a.name}": a node may write only its own Node'
        if key == ("coordination.k8s.io", "leases"):
            in_lease_ns = a.namespace == NODE_LEASE_NAMESPACE and not a.subresource
            if in_lease_ns and (a.verb == "create" or (own and a.verb in _OWN_LEASE)):
                return ""
            return f'cannot {a.verb} lease "{a.namespace}/{a.name}": only its own node Lease'
        if key == ("", "pods"):
            pod_node = self._graph.pod_node(a.namespace, a.name)
            if a.subresource == "status" and a.verb in WRITE_STATUS and pod_node == node:
                return ""
            return f'cannot {a.verb} pod "{a.namespace}/{a.name}" {a.subresource}'.rstrip()
        if a.api_group == "" and a.resource in _GRAPH_READ:
            used = self._graph.node_uses(node, a.resource, a.namespace, a.name)
            if a.verb in READ and not a.subresource and a.name and used:
                return ""
            return f'has no relationship to {a.resource} "{a.namespace}/{a.name}"'
        if key == ("", "serviceaccounts") and a.subresource == "token":
            used = self._graph.node_uses(node, "serviceaccounts", a.namespace, a.name)
            if a.verb == "create" and used:
                return ""
            return f'has no pod using serviceaccount "{a.namespace}/{a.name}"'
        if key in self._addressed:
            if own and not a.subresource and a.verb in READ:
                return ""
            if own and a.subresource == "status" and a.verb in WRITE_STATUS:
                return ""
            return f"may read only its own {a.resource} and write only its status"
        return f"is not allowed to {a.verb} {a.combined_resource}"
