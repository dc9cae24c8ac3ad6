"""NodeRestriction admission: what a node may put into the objects it is allowed to write.

The API server calls `admit_node_request(attrs, new, old)` for every create, update, patch
and delete after authorization succeeds, with the object as it would be stored (`new`,
after the patch is applied) and as it is stored now (`old`). Requests of users that are not
nodes are always allowed here. For a node `<n>`:
- Node objects: it may create only the Node named `<n>`, and update/patch/delete only that
  Node; on create it may not set a cluster-owned label; on update it may not add, change or
  remove one, nor change `spec.taints` or `spec.unschedulable` (cordons and taints belong
  to the cluster: a node must not uncordon itself in the middle of a drain).
- Leases: only the Lease named `<n>` in `kube-node-lease`.
- pods/status: only for pods whose `spec.nodeName` is `<n>`.

Which labels a node owns (`label_owner`, in `k3os.security.nodelabels`): anything outside
the reserved domains (the operator's own labels from the box's config); in
`kubernetes.io`/`k8s.io` only what a kubelet reports (`KUBELET_LABELS` and the
`kubelet.kubernetes.io/`, `node.kubernetes.io/` prefixes), never `node-role.kubernetes.io/*`
or `node-restriction.kubernetes.io/*`; in `k3os.io` only the facts the node reports
(`NODE_REPORTED_K3OS_LABELS`: `k3os.io/version`, `k3os.io/mode`). The cluster owns the rest
of `k3os.io/*` (e.g. `k3os.io/upgrade`, the opt-in to upgrade Plans) and everything under
`upgrade.cattle.io` (e.g. `plan.upgrade.cattle.io/<plan>`, the Plan's done marker).

Upgrade requests (`request.upgrade.k3os.io/<plan>`) and the finishes beside them
(`finish.upgrade.k3os.io/<plan>`) are the controller's: a node may not create its Node
with one, add one or change one. It may drop them in exactly one kind of write, its
agent's finish (`k3os.apis.handoff.agent_finished`): a finish stood beside the request for
its hash, the write drops both and answers the request `Complete` at its hash with the
record complete there, and then the node may set the cluster-owned labels the finish
names to the values it names (the done label, the plan's postCompleteLabels), and no
other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from k3os.apis.handoff import (
    FINISH_PREFIX,
    REQUEST_PREFIX,
    agent_finished,
    request_dropped,
)
from k3os.security.authz import Attributes, Decision, Verdict
from k3os.security.node import NODE_LEASE_NAMESPACE, node_name_of
from k3os.security.nodelabels import KUBELET_LABELS, NODE_REPORTED_K3OS_LABELS, label_owner

__all__ = [
    "KUBELET_LABELS",
    "NODE_REPORTED_K3OS_LABELS",
    "admit_node_request",
    "cluster_owned_labels",
    "label_owner",
]

Obj = Mapping[str, Any]


def _meta_map(obj: Obj | None, field: str) -> Mapping[str, str]:
    """`metadata.<field>` (labels, annotations) of `obj`, or empty."""
    found = ((obj or {}).get("metadata") or {}).get(field)
    return found if isinstance(found, Mapping) else {}


def _labels(obj: Obj | None) -> Mapping[str, str]:
    return _meta_map(obj, "labels")


def cluster_owned_labels(obj: Obj | None) -> dict[str, str]:
    return {k: v for k, v in _labels(obj).items() if label_owner(k) == "cluster"}


_HANDOFF = (REQUEST_PREFIX, FINISH_PREFIX)
"""The controller's side of the upgrade hand-off."""


def _annotations(obj: Obj | None) -> Mapping[str, str]:
    return _meta_map(obj, "annotations")


def _name(obj: Obj | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("name", ""))


def _spec(obj: Obj | None, key: str) -> Any:
    return ((obj or {}).get("spec") or {}).get(key)


def _deny(why: str) -> Decision:
    return Decision(Verdict.DENY, why)


_ALLOW = Decision(Verdict.ALLOW)


def _admit_node(node: str, attrs: Attributes, new: Obj | None, old: Obj | None) -> Decision:
    target = _name(new) or _name(old) or attrs.name
    if target != node:
        return _deny(f'node "{node}" is not allowed to modify node "{target}"')
    if attrs.verb == "create":
        owned = sorted(cluster_owned_labels(new))
        if owned:
            return _deny(f'node "{node}" is not allowed to set the labels {owned}')
        requests = sorted(k for k in _annotations(new) if k.startswith(_HANDOFF))
        if requests:
            return _deny(f'node "{node}" is not allowed to set the annotations {requests}')
        return _ALLOW
    if attrs.verb == "delete":
        return _ALLOW
    notes_before, notes_after = _annotations(old), _annotations(new)
    requests = sorted(
        k
        for k in notes_before.keys() | notes_after.keys()
        if k.startswith(_HANDOFF) and notes_before.get(k) != notes_after.get(k)
    )
    finished = agent_finished(notes_before, notes_after) if requests else {}
    dropped = {k for plan in finished for k in request_dropped(plan)}
    written = [k for k in requests if k not in dropped]
    if written:
        return _deny(f'node "{node}" is not allowed to modify the annotations {written}')
    granted = {k: v for labels in finished.values() for k, v in labels.items()}
    before, after = cluster_owned_labels(old), cluster_owned_labels(new)
    changed = sorted(
        k
        for k in before.keys() | after.keys()
        if before.get(k) != after.get(k) and not (k in after and granted.get(k) == after[k])
    )
    if changed:
        return _deny(f'node "{node}" is not allowed to modify the labels {changed}')
    for key in ("taints", "unschedulable"):
        if (_spec(old, key) or None) != (_spec(new, key) or None):
            return _deny(f'node "{node}" is not allowed to modify spec.{key}')
    return _ALLOW


def admit_node_request(attrs: Attributes, new: Obj | None, old: Obj | None) -> Decision:
    """ALLOW, or DENY with the reason for a 403 (`forbidden: <reason>`)."""
    node = node_name_of(attrs.user)
    if node is None or not attrs.is_resource_request:
        return _ALLOW
    if attrs.verb not in ("create", "update", "patch", "delete"):
        return _ALLOW
    resource = (attrs.api_group, attrs.resource)
    if resource == ("", "nodes"):
        return _admit_node(node, attrs, new, old)
    if resource == ("coordination.k8s.io", "leases"):
        name = _name(new) or attrs.name
        if attrs.namespace != NODE_LEASE_NAMESPACE or name != node:
            return _deny(f'node "{node}" may only write its own Lease, not "{name}"')
        return _ALLOW
    if resource == ("", "pods") and attrs.subresource == "status":
        bound = _spec(old, "nodeName")
        if bound != node or _spec(new, "nodeName") != bound:
            return _deny(f'node "{node}" may only update the status of pods bound to it')
    return _ALLOW
