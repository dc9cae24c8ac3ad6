"""Defaulting of built-in kinds: the fields kube-apiserver fills in on create and update.

Pure functions over the decoded object (a dict), keyed by (group, kind). Only the
defaults clients observe and rely on are applied (pods' policies and container defaults,
namespaces' finalizer and phase, secrets' type).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k3os.apiserver.crd import default_crd

__all__ = ["apply_defaults", "defaults_stay_shallow"]


def _container(c: dict[str, Any]) -> None:
    image = str(c.get("image") or "")
    tail = image.rsplit("/", 1)[-1]
    if "imagePullPolicy" not in c:
        tagged = ":" in tail and not tail.endswith(":latest")
        c["imagePullPolicy"] = "IfNotPresent" if tagged or "@" in tail else "Always"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def _pod(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict):
                _container(c)
    status = obj.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", "BestEffort")


def _namespace(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("finalizers", ["kubernetes"])
    status = obj.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Active")
    labels = obj.setdefault("metadata", {}).setdefault("labels", {})
    if isinstance(labels, dict):
        labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")


def _secret(obj: dict[str, Any]) -> None:
    obj.setdefault("type", "Opaque")


def _node(obj: dict[str, Any]) -> None:
    labels = obj.setdefault("metadata", {}).setdefault("labels", {})
    if isinstance(labels, dict) and obj["metadata"].get("name"):
        labels.setdefault("kubernetes.io/hostname", obj["metadata"]["name"])


def _pdb(obj: dict[str, Any]) -> None:
    status = obj.setdefault("status", {})
    if isinstance(status, dict):
        for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
            status.setdefault(key, 0)


_DEFAULTERS: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("", "Pod"): _pod,
    ("", "Namespace"): _namespace,
    ("", "Secret"): _secret,
    ("", "Node"): _node,
    ("policy", "PodDisruptionBudget"): _pdb,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): default_crd,
}


def apply_defaults(group: str, kind: str, obj: dict[str, Any]) -> None:
    """Fill in `obj`'s defaults in place."""
    defaulter = _DEFAULTERS.get((group, kind))
    if defaulter is not None:
        defaulter(obj)


_SHALLOW = {("", "Node"), ("", "Secret")}


def defaults_stay_shallow(group: str, kind: str) -> bool:
    """Whether defaulting `kind` writes nothing but the object's own top-level fields and
    its metadata.labels (kinds without defaults, Nodes, Secrets): a patched object that
    shares everything else with the stored one can then be defaulted without a copy."""
    return (group, kind) not in _DEFAULTERS or (group, kind) in _SHALLOW
