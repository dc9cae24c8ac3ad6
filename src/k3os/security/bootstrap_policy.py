"""The RBAC objects a fresh cluster starts with, as plain dicts ready to store.

Written from the documented meaning of Kubernetes' default roles, trimmed to the resources
this project serves:
- `cluster-admin`: everything; bound to the group `system:masters` (the admin kubeconfig).
- `admin` ⊇ `edit` ⊇ `view`, built by aggregation (`rbac.authorization.k8s.io/aggregate-to-*`
  labels) so that CRD owners can extend them; `view` reads everything but Secrets, `edit`
  also writes workloads and reads/writes Secrets, `admin` also manages Roles and
  RoleBindings in a namespace. The k3os resources join through `k3os:aggregate-to-*`.
- `system:discovery`, `system:basic-user`: discovery documents and self-reviews, bound to
  `system:authenticated`; `system:public-info-viewer`: health and version, also bound to
  `system:unauthenticated` (used only when anonymous access is on).
- `system:node`: what a kubelet-like node needs, kept as a reference role and bound to no
  one, as upstream does: nodes are authorized by the Node authorizer (`node.py`).
- `system:node-bootstrapper`: lets the join token holder create CSRs.
- `k3os:node-joiner`: POST to the join endpoints (`/v1-k3os/*`) for join-token holders
  (`system:bootstrappers`) and nodes renewing their certificate (`system:nodes`); the
  endpoint itself then checks which node name the caller may ask for (`join.check_caller`).
Every object carries the `kubernetes.io/bootstrapping: rbac-defaults` label and the
`rbac.authorization.kubernetes.io/autoupdate: "true"` annotation; the server reconciles
them at start (create if missing, never delete what an operator added).
"""

from __future__ import annotations

from typing import Any

__all__ = ["bootstrap_objects", "cluster_role_bindings", "cluster_roles"]

RBAC_V1 = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete", "deletecollection"]
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"

Obj = dict[str, Any]


def _meta(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    }


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> Obj:
    return {"verbs": verbs, "apiGroups": groups, "resources": resources}


def _urls(verbs: list[str], urls: list[str]) -> Obj:
    return {"verbs": verbs, "nonResourceURLs": urls}


def _role(name: str, rules: list[Obj], labels: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": RBAC_V1,
        "kind": "ClusterRole",
        "metadata": _meta(name, labels),
        "rules": rules,
    }


def _aggregated(name: str, target: str, label_into: str = "") -> Obj:
    """A role made of every role labelled aggregate-to-<target>, itself maybe aggregated."""
    labels = {f"{AGGREGATE}{label_into}": "true"} if label_into else {}
    selectors = [{"matchLabels": {f"{AGGREGATE}{target}": "true"}}]
    return {
        "apiVersion": RBAC_V1,
        "kind": "ClusterRole",
        "metadata": _meta(name, labels),
        "aggregationRule": {"clusterRoleSelectors": selectors},
        "rules": [],
    }


def _binding(name: str, role: str, *groups: str) -> Obj:
    return {
        "apiVersion": RBAC_V1,
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups],
    }


_VIEW_CORE = [
    "pods", "pods/log", "pods/status", "configmaps", "endpoints", "events",
    "persistentvolumeclaims", "persistentvolumeclaims/status", "replicationcontrollers",
    "replicationcontrollers/scale", "replicationcontrollers/status", "services",
    "services/status", "serviceaccounts", "limitranges", "resourcequotas",
    "resourcequotas/status", "namespaces", "namespaces/status", "bindings",
]  # fmt: skip
_WORKLOADS = {
    "apps": [
        "deployments", "deployments/scale", "deployments/status", "daemonsets",
        "daemonsets/status", "replicasets", "replicasets/scale", "replicasets/status",
        "statefulsets", "statefulsets/scale", "statefulsets/status", "controllerrevisions",
    ],
    "batch": ["jobs", "jobs/status", "cronjobs", "cronjobs/status"],
    "autoscaling": ["horizontalpodautoscalers", "horizontalpodautoscalers/status"],
    "policy": ["poddisruptionbudgets", "poddisruptionbudgets/status"],
    "networking.k8s.io": ["ingresses", "ingresses/status", "networkpolicies"],
    "discovery.k8s.io": ["endpointslices"],
    "coordination.k8s.io": ["leases"],
    "events.k8s.io": ["events"],
}  # fmt: skip
_DISCOVERY_URLS = [
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi",
    "/openapi/*", "/version", "/version/",
]  # fmt: skip
_EDIT_CORE = [
    "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "pods/eviction",
    "configmaps", "endpoints", "persistentvolumeclaims", "replicationcontrollers",
    "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy",
]  # fmt: skip


def _view_rules() -> list[Obj]:
    rules = [_rule(READ, [""], _VIEW_CORE)]
    rules += [_rule(READ, [group], res) for group, res in _WORKLOADS.items()]
    return rules


def _edit_rules() -> list[Obj]:
    rules = [
        _rule(
            READ, [""], ["secrets", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]
        ),
        _rule(WRITE, [""], _EDIT_CORE),
        _rule(["create"], [""], ["serviceaccounts/token"]),
        _rule(["impersonate"], [""], ["serviceaccounts"]),
    ]
    for group, res in _WORKLOADS.items():
        writable = [r for r in res if not r.endswith("/status")]
        rules.append(_rule(WRITE, [group], writable))
    return rules


def _admin_rules() -> list[Obj]:
    return [
        _rule(READ + WRITE, [RBAC_GROUP], ["roles", "rolebindings"]),
        _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
    ]


def _k3os_view_rules() -> list[Obj]:
    return [
        _rule(READ, ["k3os.io"], ["*"]),
        _rule(READ, ["upgrade.cattle.io"], ["plans", "plans/status"]),
    ]


def _k3os_edit_rules() -> list[Obj]:
    return [_rule(WRITE, ["upgrade.cattle.io"], ["plans"])]


def _node_reference_rules() -> list[Obj]:
    # The upstream system:node role, trimmed: what the Node authorizer hands out, for
    # operators who want to grant it to some other identity.
    return [
        _rule([*READ, "create", "delete"], [""], ["nodes"]),
        _rule(["update", "patch"], [""], ["nodes", "nodes/status"]),
        _rule(["create", "update", "patch"], ["", "events.k8s.io"], ["events"]),
        _rule(READ, [""], ["pods", "services", "endpoints"]),
        _rule(["update", "patch"], [""], ["pods/status"]),
        _rule(["get"], [""], ["secrets", "configmaps", "persistentvolumeclaims"]),
        _rule(["create"], [""], ["serviceaccounts/token"]),
        _rule(["get", "create", "update", "patch", "delete"], ["coordination.k8s.io"], ["leases"]),
        _rule(["create", *READ], ["certificates.k8s.io"], ["certificatesigningrequests"]),
    ]


def cluster_roles() -> list[Obj]:
    return [
        _role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _aggregated("admin", "admin"),
        # As upstream, edit is aggregated into admin and view into edit.
        _aggregated("edit", "edit", label_into="admin"),
        _aggregated("view", "view", label_into="edit"),
        _role("system:aggregate-to-admin", _admin_rules(), {f"{AGGREGATE}admin": "true"}),
        _role("system:aggregate-to-edit", _edit_rules(), {f"{AGGREGATE}edit": "true"}),
        _role("system:aggregate-to-view", _view_rules(), {f"{AGGREGATE}view": "true"}),
        _role("k3os:aggregate-to-view", _k3os_view_rules(), {f"{AGGREGATE}view": "true"}),
        _role("k3os:aggregate-to-edit", _k3os_edit_rules(), {f"{AGGREGATE}edit": "true"}),
        _role(
            "system:discovery",
            [
                _urls(
                    ["get"],
                    [
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                        "/healthz",
                        "/livez",
                        "/readyz",
                        "/openapi",
                        "/openapi/*",
                        "/version",
                        "/version/",
                    ],
                )
            ],
        ),
        _role(
            "system:basic-user",
            [
                _rule(
                    ["create"],
                    ["authorization.k8s.io"],
                    ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
            ],
        ),
        _role(
            "system:public-info-viewer",
            [_urls(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])],
        ),
        _role("system:node", _node_reference_rules()),
        _role("k3os:node-joiner", [_urls(["get", "post"], ["/v1-k3os/*"])]),
        _role(
            "system:node-bootstrapper",
            [
                _rule(
                    ["create", "get", "list", "watch"],
                    ["certificates.k8s.io"],
                    ["certificatesigningrequests"],
                )
            ],
        ),
    ]


def cluster_role_bindings() -> list[Obj]:
    node = _binding("system:node", "system:node")
    node["subjects"] = []  # nodes go through the Node authorizer, as upstream
    return [
        _binding("cluster-admin", "cluster-admin", "system:masters"),
        _binding("system:discovery", "system:discovery", "system:authenticated"),
        _binding("system:basic-user", "system:basic-user", "system:authenticated"),
        _binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            "system:authenticated",
            "system:unauthenticated",
        ),
        _binding("system:node-bootstrapper", "system:node-bootstrapper", "system:bootstrappers"),
        _binding("k3os:node-joiner", "k3os:node-joiner", "system:bootstrappers", "system:nodes"),
        node,
    ]


def bootstrap_objects() -> list[Obj]:
    """Every default ClusterRole, then every default ClusterRoleBinding (fresh copies)."""
    return cluster_roles() + cluster_role_bindings()
