"""Which Node labels a node may set itself and which only the cluster may: the rule
NodeRestriction enforces (`k3os.security.noderestriction`) and the agent follows when it
registers. Pure and free of the security room's crypto imports, so an agent can use it.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["KUBELET_LABELS", "KUBELET_PREFIXES", "NODE_REPORTED_K3OS_LABELS", "label_owner"]

KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
    }
)
KUBELET_PREFIXES = ("kubelet.kubernetes.io", "node.kubernetes.io")
NODE_REPORTED_K3OS_LABELS = frozenset({"k3os.io/version", "k3os.io/mode"})


def _in_domain(prefix: str, domain: str) -> bool:
    return prefix == domain or prefix.endswith("." + domain)


def label_owner(key: str) -> Literal["node", "cluster"]:
    """Who may set a Node label: the node itself or only the cluster (admins, controllers)."""
    prefix = key.partition("/")[0] if "/" in key else ""
    if key in NODE_REPORTED_K3OS_LABELS or key in KUBELET_LABELS:
        return "node"
    if _in_domain(prefix, "k3os.io") or _in_domain(prefix, "upgrade.cattle.io"):
        return "cluster"
    if _in_domain(prefix, "kubernetes.io") or _in_domain(prefix, "k8s.io"):
        return "node" if prefix in KUBELET_PREFIXES else "cluster"
    return "node"
