"""The Node authorizer and NodeRestriction: what node A may and may not do."""

from __future__ import annotations

from typing import Any

import pytest

from k3os.security.authn import AUTHENTICATED, UserInfo
from k3os.security.authz import Attributes, Verdict, request_attributes, union
from k3os.security.bootstrap_policy import bootstrap_objects
from k3os.security.node import (
    NodeAuthorizer,
    PodGraph,
    node_name_of,
    node_user,
    pod_references,
)
from k3os.security.noderestriction import admit_node_request, cluster_owned_labels, label_owner
from k3os.security.rbac import RBACAuthorizer, StaticRuleSource

A = node_user("a")
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"


def pod(ns: str, name: str, node: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"nodeName": node} | (spec or {})}


WEB_SPEC: dict[str, Any] = {
    "serviceAccountName": "web",
    "imagePullSecrets": [{"name": "registry"}],
    "volumes": [
        {"name": "v1", "secret": {"secretName": "tls"}},
        {"name": "v2", "configMap": {"name": "settings"}},
        {"name": "v3", "persistentVolumeClaim": {"claimName": "data"}},
        {
            "name": "v4",
            "projected": {
                "sources": [{"secret": {"name": "proj-s"}}, {"configMap": {"name": "proj-c"}}]
            },
        },
        {"name": "v5", "emptyDir": {}},
    ],
    "containers": [
        {
            "name": "c",
            "envFrom": [{"secretRef": {"name": "env-s"}}, {"configMapRef": {"name": "env-c"}}],
            "env": [
                {"name": "X", "valueFrom": {"secretKeyRef": {"name": "key-s", "key": "k"}}},
                {"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "key-c", "key": "k"}}},
                {"name": "Z", "value": "plain"},
                {"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            ],
        }
    ],
    "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-s"}}]}],
}


def test_pod_references_cover_every_kind_of_reference() -> None:
    refs = pod_references(pod("apps", "web", "a", WEB_SPEC))
    assert refs == {
        ("serviceaccounts", "web"),
        ("secrets", "registry"),
        ("secrets", "tls"),
        ("configmaps", "settings"),
        ("persistentvolumeclaims", "data"),
        ("secrets", "proj-s"),
        ("configmaps", "proj-c"),
        ("secrets", "env-s"),
        ("configmaps", "env-c"),
        ("secrets", "key-s"),
        ("configmaps", "key-c"),
        ("secrets", "init-s"),
    }
    assert pod_references({"spec": {}}) == {("serviceaccounts", "default")}


@pytest.fixture
def graph() -> PodGraph:
    return PodGraph.from_pods(
        [
            pod("apps", "web", "a", WEB_SPEC),
            pod("apps", "db", "b", {"volumes": [{"secret": {"secretName": "db-pass"}}]}),
            pod("apps", "pending", "", {"volumes": [{"secret": {"secretName": "pending-s"}}]}),
        ]
    )


@pytest.fixture
def authz(graph: PodGraph) -> NodeAuthorizer:
    return NodeAuthorizer(graph)


# (method, path, query, allowed for node "a")
MATRIX = [
    ("GET", "/api/v1/nodes", {}, True),
    ("GET", "/api/v1/nodes/b", {}, True),
    ("GET", "/api/v1/nodes", {"watch": "1"}, True),
    ("POST", "/api/v1/nodes", {}, True),
    ("PUT", "/api/v1/nodes/a", {}, True),
    ("PATCH", "/api/v1/nodes/a/status", {}, True),
    ("GET", "/api/v1/nodes/a/status", {}, True),
    ("DELETE", "/api/v1/nodes/a", {}, True),
    ("PUT", "/api/v1/nodes/b", {}, False),
    ("PATCH", "/api/v1/nodes/b/status", {}, False),
    ("DELETE", "/api/v1/nodes/b", {}, False),
    ("DELETE", "/api/v1/nodes", {}, False),
    ("POST", LEASES, {}, True),
    ("GET", f"{LEASES}/a", {}, True),
    ("PUT", f"{LEASES}/a", {}, True),
    ("GET", LEASES, {"fieldSelector": "metadata.name=a", "watch": "true"}, True),
    ("PUT", f"{LEASES}/b", {}, False),
    ("DELETE", f"{LEASES}/b", {}, False),
    ("GET", LEASES, {}, False),
    ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/a", {}, False),
    ("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", {}, False),
    ("POST", "/api/v1/namespaces/apps/events", {}, True),
    ("PATCH", "/api/v1/namespaces/apps/events/e1", {}, True),
    ("POST", "/apis/events.k8s.io/v1/namespaces/apps/events", {}, True),
    ("DELETE", "/api/v1/namespaces/apps/events/e1", {}, False),
    ("GET", "/api/v1/pods", {"fieldSelector": "spec.nodeName=a"}, True),
    ("PUT", "/api/v1/namespaces/apps/pods/web/status", {}, True),
    ("PATCH", "/api/v1/namespaces/apps/pods/db/status", {}, False),
    ("PUT", "/api/v1/namespaces/apps/pods/web", {}, False),
    ("DELETE", "/api/v1/namespaces/apps/pods/web", {}, False),
    ("POST", "/api/v1/namespaces/apps/pods", {}, False),
    ("GET", "/api/v1/namespaces/apps/secrets/tls", {}, True),
    ("GET", "/api/v1/namespaces/apps/secrets", {"fieldSelector": "metadata.name=env-s"}, True),
    ("GET", "/api/v1/namespaces/apps/configmaps/key-c", {}, True),
    ("GET", "/api/v1/namespaces/apps/persistentvolumeclaims/data", {}, True),
    ("GET", "/api/v1/namespaces/apps/secrets/db-pass", {}, False),
    ("GET", "/api/v1/namespaces/apps/secrets/pending-s", {}, False),
    ("GET", "/api/v1/namespaces/other/secrets/tls", {}, False),
    ("GET", "/api/v1/namespaces/apps/secrets", {}, False),
    ("GET", "/api/v1/secrets", {"watch": "1"}, False),
    ("PUT", "/api/v1/namespaces/apps/secrets/tls", {}, False),
    ("GET", "/api/v1/namespaces/kube-system/secrets/a.node-password.k3os", {}, False),
    ("POST", "/api/v1/namespaces/apps/serviceaccounts/web/token", {}, True),
    ("POST", "/api/v1/namespaces/apps/serviceaccounts/admin/token", {}, False),
    ("GET", "/api/v1/namespaces/apps/serviceaccounts/web", {}, False),
    ("POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests", {}, True),
    ("GET", "/apis/upgrade.cattle.io/v1/namespaces/system/plans", {"watch": "1"}, True),
    ("PUT", "/apis/upgrade.cattle.io/v1/namespaces/system/plans/os", {}, False),
    ("GET", "/apis/k3os.io/v1/renderednodeconfigs/a", {}, True),
    ("GET", "/apis/k3os.io/v1/renderednodeconfigs", {"fieldSelector": "metadata.name=a"}, True),
    ("PUT", "/apis/k3os.io/v1/renderednodeconfigs/a/status", {}, True),
    ("PUT", "/apis/k3os.io/v1/renderednodeconfigs/a", {}, False),
    ("GET", "/apis/k3os.io/v1/renderednodeconfigs/b", {}, False),
    ("PATCH", "/apis/k3os.io/v1/renderednodeconfigs/b/status", {}, False),
    ("GET", "/apis/k3os.io/v1/renderednodeconfigs", {}, False),
    ("GET", "/apis/k3os.io/v1/nodeconfigs", {}, False),
    ("GET", "/api/v1/namespaces", {}, False),
    ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {}, False),
]


@pytest.mark.parametrize(("method", "path", "query", "ok"), MATRIX)
def test_node_authorizer_matrix(
    authz: NodeAuthorizer, method: str, path: str, query: dict[str, str], ok: bool
) -> None:
    decision = authz.authorize(request_attributes(A, method, path, query))
    assert decision.allowed is ok
    if not ok:
        assert decision.verdict is Verdict.NO_OPINION
        assert decision.reason.startswith('node "a" ')


def test_non_nodes_and_non_resource_requests_get_no_opinion(authz: NodeAuthorizer) -> None:
    impostor = UserInfo("system:node:a", groups=(AUTHENTICATED,))  # not in system:nodes
    for user, path in ((impostor, "/api/v1/nodes"), (A, "/healthz")):
        decision = authz.authorize(request_attributes(user, "GET", path))
        assert decision.verdict is Verdict.NO_OPINION and decision.reason == ""


@pytest.mark.parametrize(
    ("user", "name"),
    [
        (node_user("a"), "a"),
        (UserInfo("system:node:a"), None),
        (UserInfo("system:node:", groups=("system:nodes",)), None),
        (UserInfo("jane", groups=("system:nodes",)), None),
    ],
)
def test_node_name_of(user: UserInfo, name: str | None) -> None:
    assert node_name_of(user) == name


def test_graph_follows_pod_changes(graph: PodGraph, authz: NodeAuthorizer) -> None:
    read_db = request_attributes(A, "GET", "/api/v1/namespaces/apps/secrets/db-pass")
    assert not authz.authorize(read_db).allowed
    graph.set_pod(pod("apps", "db", "a", {"volumes": [{"secret": {"secretName": "db-pass"}}]}))
    assert authz.authorize(read_db).allowed
    graph.delete_pod("apps", "db")
    assert not authz.authorize(read_db).allowed
    assert graph.pod_node("apps", "db") is None
    graph.set_pod(pod("apps", "web", ""))  # unbound again: forgotten
    assert graph.pod_node("apps", "web") is None


def test_node_with_bootstrap_rbac_union(graph: PodGraph) -> None:
    authz = union(
        NodeAuthorizer(graph), RBACAuthorizer(StaticRuleSource().add(*bootstrap_objects()))
    )
    node = UserInfo("system:node:a", groups=("system:nodes", AUTHENTICATED))
    assert authz.authorize(request_attributes(node, "GET", "/apis")).allowed  # discovery via RBAC
    denied = authz.authorize(request_attributes(node, "PUT", "/api/v1/nodes/b"))
    assert denied.verdict is Verdict.DENY
    assert 'cannot update node "b"' in denied.reason


# --- NodeRestriction admission ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "owner"),
    [
        ("env", "node"),
        ("example.com/rack", "node"),
        ("kubernetes.io/hostname", "node"),
        ("kubernetes.io/arch", "node"),
        ("topology.kubernetes.io/zone", "node"),
        ("node.kubernetes.io/instance-type", "node"),
        ("kubelet.kubernetes.io/foo", "node"),
        ("k3os.io/version", "node"),
        ("k3os.io/mode", "node"),
        ("node-role.kubernetes.io/control-plane", "cluster"),
        ("node-role.kubernetes.io/master", "cluster"),
        ("node-restriction.kubernetes.io/secure", "cluster"),
        ("kubernetes.io/role", "cluster"),
        ("example.k8s.io/x", "cluster"),
        ("k3os.io/upgrade", "cluster"),
        ("sub.k3os.io/anything", "cluster"),
        ("plan.upgrade.cattle.io/os", "cluster"),
        ("upgrade.cattle.io/x", "cluster"),
        ("cattle.io/x", "node"),
    ],
)
def test_label_owner(key: str, owner: str) -> None:
    assert label_owner(key) == owner


def node_obj(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


CLUSTER_LABELS = {
    "node-role.kubernetes.io/worker": "true",
    "k3os.io/upgrade": "enabled",
    "env": "x",
}


def admit(verb: str, path: str, new: Any, old: Any, user: UserInfo = A) -> Verdict:
    method = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE"}[verb]
    return admit_node_request(request_attributes(user, method, path), new, old).verdict


ALLOW, DENY = Verdict.ALLOW, Verdict.DENY
OLD = node_obj(
    "a", CLUSTER_LABELS, taints=[{"key": "k", "effect": "NoSchedule"}], unschedulable=True
)
NODES, PODS = "/api/v1/nodes", "/api/v1/namespaces/apps/pods"


def relabel(labels: dict[str, str]) -> dict[str, Any]:
    """Node "a" as stored (OLD), with its labels replaced by `labels`."""
    return node_obj("a", labels, **OLD["spec"])


ADMISSION = [
    # verb, path, new, old, verdict
    ("create", NODES, node_obj("a", {"env": "x", "k3os.io/version": "v1"}), None, ALLOW),
    ("create", NODES, node_obj("b"), None, DENY),
    ("create", NODES, node_obj("a", {"node-role.kubernetes.io/master": "true"}), None, DENY),
    ("create", NODES, node_obj("a", {"k3os.io/upgrade": "enabled"}), None, DENY),
    ("update", f"{NODES}/a", OLD | {"status": {"x": 1}}, OLD, ALLOW),
    ("update", f"{NODES}/a", relabel(CLUSTER_LABELS | {"k3os.io/version": "v2"}), OLD, ALLOW),
    ("update", f"{NODES}/a", relabel(CLUSTER_LABELS | {"env": "y"}), OLD, ALLOW),
    ("update", f"{NODES}/a", relabel({"env": "x"}), OLD, DENY),
    ("patch", f"{NODES}/a", relabel(CLUSTER_LABELS | {"k3os.io/upgrade": "no"}), OLD, DENY),
    (
        "patch",
        f"{NODES}/a/status",
        relabel(CLUSTER_LABELS | {"plan.upgrade.cattle.io/os": "h"}),
        OLD,
        DENY,
    ),
    (
        "update",
        f"{NODES}/a",
        node_obj("a", CLUSTER_LABELS, taints=OLD["spec"]["taints"]),
        OLD,
        DENY,
    ),
    ("update", f"{NODES}/a", node_obj("a", CLUSTER_LABELS, unschedulable=True), OLD, DENY),
    ("update", f"{NODES}/b", node_obj("b"), node_obj("b"), DENY),
    ("delete", f"{NODES}/a", None, OLD, ALLOW),
    ("delete", f"{NODES}/b", None, node_obj("b"), DENY),
    ("create", LEASES, {"metadata": {"name": "a"}}, None, ALLOW),
    ("create", LEASES, {"metadata": {"name": "b"}}, None, DENY),
    ("update", f"{LEASES}/b", {"metadata": {"name": "b"}}, {}, DENY),
    ("update", f"{PODS}/web/status", pod("apps", "web", "a"), pod("apps", "web", "a"), ALLOW),
    ("update", f"{PODS}/db/status", pod("apps", "db", "a"), pod("apps", "db", "b"), DENY),
    ("create", "/api/v1/namespaces/apps/events", {"metadata": {"name": "e"}}, None, ALLOW),
]


@pytest.mark.parametrize(("verb", "path", "new", "old", "verdict"), ADMISSION)
def test_node_restriction_matrix(
    verb: str, path: str, new: Any, old: Any, verdict: Verdict
) -> None:
    assert admit(verb, path, new, old) is verdict


def test_admission_leaves_other_users_and_reads_alone() -> None:
    admin = UserInfo("system:admin", groups=("system:masters",))
    relabel = node_obj("a", {"node-role.kubernetes.io/worker": "true"})
    assert admit("update", "/api/v1/nodes/a", relabel, node_obj("a"), admin) is ALLOW
    read = request_attributes(A, "GET", "/api/v1/nodes/b")
    assert admit_node_request(read, None, None).verdict is ALLOW
    url = request_attributes(A, "POST", "/v1-k3os/node-certificate")
    assert admit_node_request(url, None, None).verdict is ALLOW


def test_denial_names_the_labels() -> None:
    attrs = request_attributes(A, "PUT", "/api/v1/nodes/a")
    decision = admit_node_request(attrs, node_obj("a"), node_obj("a", CLUSTER_LABELS))
    assert (
        "k3os.io/upgrade" in decision.reason and "node-role.kubernetes.io/worker" in decision.reason
    )
    assert cluster_owned_labels(node_obj("a", CLUSTER_LABELS)) == {
        "node-role.kubernetes.io/worker": "true",
        "k3os.io/upgrade": "enabled",
    }
    assert cluster_owned_labels({"metadata": {"labels": "bad"}}) == {}


def test_attributes_shape_for_admission() -> None:
    a = Attributes(A, "create", "kube-node-lease", "coordination.k8s.io", "leases")
    assert admit_node_request(a, {"metadata": {"name": "a"}}, None).verdict is ALLOW


def _with_notes(obj: dict[str, Any], notes: dict[str, str | None]) -> dict[str, Any]:
    meta = dict(obj["metadata"])
    merged = {**(meta.get("annotations") or {}), **notes}
    meta["annotations"] = {k: v for k, v in merged.items() if v is not None}
    return {**obj, "metadata": meta}


def _relabelled(obj: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    meta = dict(obj["metadata"])
    meta["labels"] = {**meta["labels"], **labels}
    return {**obj, "metadata": meta}


def _in_flight(finish: dict[str, str] | None) -> dict[str, Any]:
    """Node `a` as the Plan controller started it for plan `os` at hash H."""
    from k3os.apis import NodeUpgradeRecord
    from k3os.apis.handoff import UpgradeFinish, UpgradeRequest, finish_key, request_key
    from k3os.apis.keys import node_record_key

    request = UpgradeRequest(plan="sys/os", hash="H", version="v2", image="k3os-v2.bundle")
    record = NodeUpgradeRecord(hash="H", phase="Applying")
    notes = {request_key("os"): request.encode(), node_record_key("os"): record.encode()}
    if finish is not None:
        notes[finish_key("os")] = UpgradeFinish(hash="H", labels=finish).encode()
    return _with_notes(node_obj("a", {"kubernetes.io/hostname": "a"}), notes)


def _answered(
    old: dict[str, Any], *, phase: str = "Complete", hash_: str = "H", drop: bool = True
) -> dict[str, Any]:
    """The agent's answer to `old`'s request, with the record complete and (with `drop`)
    the request dropped."""
    from k3os.apis import NodeUpgradeRecord
    from k3os.apis.handoff import UpgradeOutcome, outcome_key, request_dropped
    from k3os.apis.keys import node_record_key

    outcome = UpgradeOutcome(hash=hash_, phase=phase, version="v2")  # type: ignore[arg-type]
    record = NodeUpgradeRecord(hash=hash_, phase="Complete")
    notes: dict[str, str | None] = {
        outcome_key("os"): outcome.encode(),
        node_record_key("os"): record.encode(),
    }
    if drop:
        notes.update(request_dropped("os"))
    return _with_notes(old, notes)


FINISH = {"plan.upgrade.cattle.io/os": "H", "k3os.io/release": "v2"}


def test_a_node_may_set_the_labels_its_request_names_in_the_write_that_finishes_it() -> None:
    old = _in_flight(FINISH)
    assert admit("patch", f"{NODES}/a", _relabelled(_answered(old), FINISH), old) is ALLOW
    partly = {"plan.upgrade.cattle.io/os": "H"}  # a subset of what it names is fine too
    assert admit("patch", f"{NODES}/a", _relabelled(_answered(old), partly), old) is ALLOW


@pytest.mark.parametrize(
    ("old_finish", "answer", "labels"),
    [
        (None, {}, FINISH),  # the request did not hand the finish over
        (FINISH, {"phase": "Failed"}, FINISH),  # a failure is the controller's to record
        (FINISH, {"hash_": "other"}, FINISH),  # not an answer to this request
        (FINISH, {"drop": False}, FINISH),  # the request kept: not a finish
        (FINISH, {}, {**FINISH, "k3os.io/upgrade": "x"}),  # a label it does not name
        (FINISH, {}, {"plan.upgrade.cattle.io/os": "other-hash"}),  # another value
    ],
)
def test_a_node_may_not_set_cluster_labels_outside_its_agents_finish(
    old_finish: dict[str, str] | None, answer: dict[str, Any], labels: dict[str, str]
) -> None:
    old = _in_flight(old_finish)
    new = _relabelled(_answered(old, **answer), labels)
    assert admit("patch", f"{NODES}/a", new, old) is DENY


def test_a_node_may_not_write_upgrade_requests_or_finishes() -> None:
    """Requests and finishes are the controller's: a node that could write a finish could
    name any labels in it and then grant them to itself."""
    from k3os.apis.handoff import finish_key, request_key

    forged = _in_flight(FINISH)
    notes = forged["metadata"]["annotations"]
    plain = node_obj("a", {"kubernetes.io/hostname": "a"})
    assert admit("create", NODES, forged, None) is DENY
    assert admit("patch", f"{NODES}/a", forged, plain) is DENY  # added
    changed = _with_notes(forged, {request_key("os"): notes[request_key("os")] + " "})
    assert admit("patch", f"{NODES}/a", changed, forged) is DENY  # changed
    dropped = _with_notes(forged, {request_key("os"): None})
    assert admit("patch", f"{NODES}/a", dropped, forged) is DENY  # dropped, not answered
    added = _with_notes(_in_flight(None), {finish_key("os"): notes[finish_key("os")]})
    assert admit("patch", f"{NODES}/a", added, _in_flight(None)) is DENY  # a finish added
    kept = _with_notes(_answered(forged), {finish_key("os"): notes[finish_key("os")]})
    assert admit("patch", f"{NODES}/a", kept, forged) is DENY  # the finish kept: not one
    odd = _with_notes(plain, {"request.upgrade.k3os.io/not a plan!": "{}"})
    assert admit("patch", f"{NODES}/a", plain, odd) is DENY
    # its other annotations stay its own
    assert admit("patch", f"{NODES}/a", _with_notes(forged, {"x": "1"}), forged) is ALLOW
