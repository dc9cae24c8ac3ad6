"""RBAC semantics as tables of cases, and the bootstrap policy put to work."""

from __future__ import annotations

from typing import Any

import pytest

from k3os.security.authn import AUTHENTICATED, UserInfo
from k3os.security.authz import Attributes, Verdict, request_attributes
from k3os.security.bootstrap_policy import bootstrap_objects, cluster_role_bindings, cluster_roles
from k3os.security.rbac import (
    RBACAuthorizer,
    StaticRuleSource,
    aggregated_rules,
    rule_allows,
    selector_matches,
    subject_matches,
)

JANE = UserInfo("jane", groups=("dev", AUTHENTICATED))


def res(verb: str, resource: str, sub: str = "", name: str = "", group: str = "") -> Attributes:
    return Attributes(JANE, verb, "ns", group, resource, sub, name)


def url(verb: str, path: str) -> Attributes:
    return Attributes(JANE, verb, path=path, is_resource_request=False)


R = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}


@pytest.mark.parametrize(
    ("rule", "attrs", "ok"),
    [
        (R, res("get", "pods"), True),
        (R, res("list", "pods"), False),
        (R, res("get", "pods", "status"), False),
        (R, res("get", "pods", group="apps"), False),
        (R | {"verbs": ["*"]}, res("delete", "pods"), True),
        (R | {"apiGroups": ["*"]}, res("get", "pods", group="apps"), True),
        (R | {"resources": ["*"]}, res("get", "pods", "log"), True),
        (R | {"resources": ["pods/status"]}, res("get", "pods", "status"), True),
        (R | {"resources": ["pods/status"]}, res("get", "pods"), False),
        (R | {"resources": ["*/scale"]}, res("get", "deployments", "scale"), True),
        (R | {"resources": ["*/scale"]}, res("get", "deployments"), False),
        (R | {"resources": ["*/scale"]}, res("get", "deployments", "status"), False),
        (R | {"resourceNames": ["a"]}, res("get", "pods", name="a"), True),
        (R | {"resourceNames": ["a"]}, res("get", "pods", name="b"), False),
        (R | {"resourceNames": ["a"], "verbs": ["list"]}, res("list", "pods"), False),
        (R, url("get", "/healthz"), False),
        ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("get", "/healthz"), True),
        ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("get", "/healthz/x"), False),
        ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("post", "/healthz"), False),
        ({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}, url("get", "/apis/apps/v1"), True),
        ({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}, url("get", "/apis"), False),
        ({"verbs": ["*"], "nonResourceURLs": ["*"]}, url("delete", "/anything"), True),
        ({"verbs": ["get"], "nonResourceURLs": ["*"]}, res("get", "pods"), False),
        ({"apiGroups": [""], "resources": ["pods"]}, res("get", "pods"), False),
    ],
)
def test_rule_matching(rule: dict[str, Any], attrs: Attributes, ok: bool) -> None:
    assert rule_allows(rule, attrs) is ok


SA = UserInfo("system:serviceaccount:apps:builder", groups=("system:serviceaccounts",))


@pytest.mark.parametrize(
    ("subject", "user", "binding_ns", "ok"),
    [
        ({"kind": "User", "name": "jane"}, JANE, "", True),
        ({"kind": "User", "name": "john"}, JANE, "", False),
        ({"kind": "Group", "name": "dev"}, JANE, "", True),
        ({"kind": "Group", "name": "ops"}, JANE, "", False),
        ({"kind": "ServiceAccount", "name": "builder", "namespace": "apps"}, SA, "", True),
        ({"kind": "ServiceAccount", "name": "builder"}, SA, "apps", True),
        ({"kind": "ServiceAccount", "name": "builder"}, SA, "", False),
        ({"kind": "ServiceAccount", "name": "builder", "namespace": "other"}, SA, "apps", False),
        ({"kind": "Group", "name": "system:serviceaccounts"}, SA, "", True),
        ({"kind": "Robot", "name": "jane"}, JANE, "", False),
        ({"kind": "User", "name": ""}, UserInfo(""), "", False),
    ],
)
def test_subject_matching(
    subject: dict[str, str], user: UserInfo, binding_ns: str, ok: bool
) -> None:
    assert subject_matches(subject, user, binding_ns) is ok


def expr(op: str, *values: str) -> dict[str, Any]:
    e: dict[str, Any] = {"key": "a", "operator": op}
    return {"matchExpressions": [e | {"values": list(values)} if values else e]}


@pytest.mark.parametrize(
    ("selector", "labels", "ok"),
    [
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({}, {"a": "1"}, False),
        (expr("In", "1", "2"), {"a": "2"}, True),
        (expr("In", "1"), {}, False),
        (expr("NotIn", "1"), {}, True),
        (expr("NotIn", "1"), {"a": "1"}, False),
        (expr("Exists"), {"a": ""}, True),
        (expr("DoesNotExist"), {"a": ""}, False),
        (expr("Gt", "1"), {"a": "2"}, False),
    ],
)
def test_selector_matching(selector: dict[str, Any], labels: dict[str, str], ok: bool) -> None:
    assert selector_matches(selector, labels) is ok


def role(kind: str, name: str, rules: list[dict[str, Any]], ns: str = "") -> dict[str, Any]:
    meta = {"name": name} | ({"namespace": ns} if ns else {})
    return {"kind": kind, "metadata": meta, "rules": rules}


def binding(
    kind: str, name: str, ref_kind: str, ref: str, subjects: list[dict[str, str]], ns: str = ""
) -> dict[str, Any]:
    meta = {"name": name} | ({"namespace": ns} if ns else {})
    return {
        "kind": kind,
        "metadata": meta,
        "roleRef": {"kind": ref_kind, "name": ref},
        "subjects": subjects,
    }


POD_READER = [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
USER_JANE = [{"kind": "User", "name": "jane"}]


def rbac(*objs: dict[str, Any]) -> RBACAuthorizer:
    return RBACAuthorizer(StaticRuleSource().add(*objs))


def pods_in(ns: str, verb: str = "get") -> Attributes:
    return Attributes(JANE, verb, ns, "", "pods", "", "p")


def test_rolebinding_grants_only_in_its_namespace() -> None:
    authz = rbac(
        role("Role", "reader", POD_READER, "a"),
        binding("RoleBinding", "rb", "Role", "reader", USER_JANE, "a"),
    )
    allowed = authz.authorize(pods_in("a"))
    assert allowed.verdict is Verdict.ALLOW
    assert allowed.reason == 'RBAC: allowed by RoleBinding "rb/a" of Role "reader" to User "jane"'
    assert authz.authorize(pods_in("b")).verdict is Verdict.NO_OPINION
    assert authz.authorize(pods_in("a", "delete")).verdict is Verdict.NO_OPINION
    cluster_wide = Attributes(JANE, "list", "", "", "pods")
    assert authz.authorize(cluster_wide).verdict is Verdict.NO_OPINION


def test_rolebinding_to_clusterrole_and_missing_roles() -> None:
    authz = rbac(
        role("ClusterRole", "reader", POD_READER),
        role("Role", "reader", POD_READER, "b"),
        binding("RoleBinding", "rb", "ClusterRole", "reader", USER_JANE, "a"),
        binding("RoleBinding", "dangling", "Role", "gone", USER_JANE, "c"),
        # A RoleBinding cannot reach a Role of another namespace.
        binding("RoleBinding", "cross", "Role", "reader", USER_JANE, "d"),
        binding("ClusterRoleBinding", "bad-ref", "Role", "reader", USER_JANE),
        binding("ClusterRoleBinding", "no-role", "ClusterRole", "gone", USER_JANE),
    )
    assert authz.authorize(pods_in("a")).allowed
    for ns in ("b", "c", "d"):
        assert authz.authorize(pods_in(ns)).verdict is Verdict.NO_OPINION, ns


def test_clusterrolebinding_grants_everywhere_and_reports_subject() -> None:
    sa_subject = [{"kind": "ServiceAccount", "name": "builder", "namespace": "apps"}]
    authz = rbac(
        role("ClusterRole", "reader", POD_READER),
        binding("ClusterRoleBinding", "crb", "ClusterRole", "reader", sa_subject),
    )
    decision = authz.authorize(Attributes(SA, "list", "x", "", "pods"))
    assert decision.allowed
    assert decision.reason.endswith('to ServiceAccount "apps/builder"')
    assert not authz.authorize(pods_in("x")).allowed


def test_non_resource_urls_only_from_cluster_roles() -> None:
    health = [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]
    authz = rbac(
        role("ClusterRole", "health", health),
        binding("RoleBinding", "rb", "ClusterRole", "health", USER_JANE, "a"),
    )
    assert authz.authorize(url("get", "/healthz")).verdict is Verdict.NO_OPINION
    authz = rbac(
        role("ClusterRole", "health", health),
        binding("ClusterRoleBinding", "crb", "ClusterRole", "health", USER_JANE),
    )
    assert authz.authorize(url("get", "/healthz")).allowed


def labelled(name: str, labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, Any]:
    obj = role("ClusterRole", name, rules)
    obj["metadata"]["labels"] = labels
    return obj


def test_aggregation_is_transitive_and_ignores_stale_rules() -> None:
    top = {
        "kind": "ClusterRole",
        "metadata": {"name": "top"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-top": "true"}}]},
        "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],  # stale, ignored
    }
    middle = {
        "kind": "ClusterRole",
        "metadata": {"name": "middle", "labels": {"to-top": "true"}},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-middle": "true"}}]},
    }
    leaf = labelled("leaf", {"to-middle": "true"}, POD_READER)
    loop = labelled("loop", {"to-top": "true", "to-middle": "true"}, [])
    loop["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"to-top": "true"}}]}
    rules = aggregated_rules(top, [top, middle, leaf, loop])
    assert rules == POD_READER
    authz = rbac(
        top, middle, leaf, loop, binding("ClusterRoleBinding", "b", "ClusterRole", "top", USER_JANE)
    )
    assert authz.authorize(pods_in("x")).allowed
    assert not authz.authorize(pods_in("x", "delete")).allowed


# --- the bootstrap policy, as a matrix of who can do what ---------------------------------

ADMIN = UserInfo("system:admin", groups=("system:masters", AUTHENTICATED))
VIEWER = UserInfo("vic", groups=(AUTHENTICATED,))
EDITOR = UserInfo("ed", groups=(AUTHENTICATED,))
NS_ADMIN = UserInfo("ada", groups=(AUTHENTICATED,))
NOBODY = UserInfo("nobody", groups=(AUTHENTICATED,))
JOINER = UserInfo("system:bootstrap:server", groups=("system:bootstrappers", AUTHENTICATED))


def user(name: str) -> list[dict[str, str]]:
    return [{"kind": "User", "name": name}]


@pytest.fixture(scope="module")
def policy() -> RBACAuthorizer:
    source = StaticRuleSource().add(*bootstrap_objects())
    source.add(
        binding("ClusterRoleBinding", "vic-view", "ClusterRole", "view", user("vic")),
        binding("RoleBinding", "ed-edit", "ClusterRole", "edit", user("ed"), "apps"),
        binding("RoleBinding", "ada-admin", "ClusterRole", "admin", user("ada"), "apps"),
    )
    return RBACAuthorizer(source)


CASES = [
    # who, method, path, allowed
    (ADMIN, "DELETE", "/api/v1/nodes/n1", True),
    (ADMIN, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", True),
    (ADMIN, "GET", "/metrics", True),
    (VIEWER, "GET", "/api/v1/namespaces/apps/pods", True),
    (VIEWER, "GET", "/apis/apps/v1/namespaces/apps/deployments/web", True),
    (VIEWER, "GET", "/apis/upgrade.cattle.io/v1/namespaces/system/plans", True),
    (VIEWER, "GET", "/apis/k3os.io/v1/nodeconfigs", True),
    (VIEWER, "GET", "/api/v1/namespaces/apps/secrets", False),
    (VIEWER, "POST", "/api/v1/namespaces/apps/pods", False),
    (VIEWER, "PUT", "/apis/apps/v1/namespaces/apps/deployments/web", False),
    (VIEWER, "DELETE", "/api/v1/namespaces/apps/configmaps/c", False),
    (VIEWER, "PATCH", "/api/v1/nodes/n1", False),
    (VIEWER, "POST", "/api/v1/namespaces/apps/pods/p/exec", False),
    (EDITOR, "POST", "/api/v1/namespaces/apps/pods", True),
    (EDITOR, "GET", "/api/v1/namespaces/apps/secrets/s", True),
    (EDITOR, "PUT", "/apis/apps/v1/namespaces/apps/deployments/web/scale", True),
    (EDITOR, "GET", "/apis/apps/v1/namespaces/apps/deployments", True),  # view, aggregated
    (EDITOR, "POST", "/apis/upgrade.cattle.io/v1/namespaces/apps/plans", True),
    (EDITOR, "POST", "/api/v1/namespaces/other/pods", False),
    (EDITOR, "PUT", "/apis/apps/v1/namespaces/apps/deployments/web/status", False),
    (EDITOR, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/apps/rolebindings", False),
    (NS_ADMIN, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/apps/rolebindings", True),
    (NS_ADMIN, "DELETE", "/api/v1/namespaces/apps/secrets/s", True),  # edit, aggregated
    (NS_ADMIN, "GET", "/api/v1/namespaces/apps/pods", True),  # view, through edit
    (NS_ADMIN, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", False),
    (NOBODY, "GET", "/api", True),
    (NOBODY, "GET", "/apis/apps/v1", True),
    (NOBODY, "GET", "/version", True),
    (NOBODY, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", True),
    (NOBODY, "GET", "/api/v1/namespaces/apps/pods", False),
    (NOBODY, "GET", "/metrics", False),
    (JOINER, "POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests", True),
    (JOINER, "GET", "/api/v1/nodes", False),
    (JOINER, "POST", "/v1-k3os/node-certificate", True),
    (NOBODY, "POST", "/v1-k3os/node-certificate", False),
]


@pytest.mark.parametrize(("user", "method", "path", "ok"), CASES)
def test_bootstrap_policy_matrix(
    policy: RBACAuthorizer, user: UserInfo, method: str, path: str, ok: bool
) -> None:
    attrs = request_attributes(user, method, path)
    assert policy.authorize(attrs).allowed is ok


def test_nodes_get_nothing_from_rbac(policy: RBACAuthorizer) -> None:
    node = UserInfo("system:node:n1", groups=("system:nodes", AUTHENTICATED))
    assert not policy.authorize(request_attributes(node, "GET", "/api/v1/nodes")).allowed
    assert policy.authorize(request_attributes(node, "GET", "/api")).allowed
    renew = request_attributes(node, "POST", "/v1-k3os/node-certificate")
    assert policy.authorize(renew).allowed


def test_bootstrap_objects_are_well_formed() -> None:
    roles, bindings = cluster_roles(), cluster_role_bindings()
    names = {r["metadata"]["name"] for r in roles}
    assert {"cluster-admin", "admin", "edit", "view", "system:node", "system:basic-user"} <= names
    assert {"system:discovery", "system:public-info-viewer"} <= names
    for b in bindings:
        assert b["roleRef"]["name"] in names
    for obj in roles + bindings:
        assert obj["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
    node_binding = next(b for b in bindings if b["metadata"]["name"] == "system:node")
    assert node_binding["subjects"] == []
    assert bootstrap_objects() is not bootstrap_objects()  # fresh copies each call


def test_the_rules_a_user_has_in_a_namespace() -> None:
    """`kubectl auth can-i --list`: cluster-wide bindings everywhere, a namespace's own
    bindings only there, aggregated ClusterRoles expanded, other users' bindings left out."""
    from k3os.security.authz import ALL_RULES, Rules, rules_for, union
    from k3os.security.node import NodeAuthorizer, PodGraph

    secrets = [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]
    authorizer = rbac(
        role("ClusterRole", "reader", POD_READER),
        role("Role", "secret-reader", secrets, ns="team"),
        binding("ClusterRoleBinding", "r", "ClusterRole", "reader", USER_JANE),
        binding("RoleBinding", "s", "Role", "secret-reader", USER_JANE, ns="team"),
        binding(
            "RoleBinding",
            "o",
            "Role",
            "secret-reader",
            [{"kind": "User", "name": "bob"}],
            ns="team",
        ),
    )
    assert authorizer.rules_for(JANE, "").rules == tuple(POD_READER)
    assert authorizer.rules_for(JANE, "team").rules == (*POD_READER, *secrets)
    assert authorizer.rules_for(UserInfo("carol"), "team").rules == ()
    node = UserInfo("system:node:n1", groups=("system:nodes",))
    both = union(NodeAuthorizer(PodGraph()), authorizer)
    assert both.rules_for(JANE, "team") == Rules((*POD_READER, *secrets))  # type: ignore[attr-defined]
    answer = rules_for(both, node, "team")
    assert answer.incomplete and "node authorizer" in answer.error
    twice = union(authorizer, authorizer)
    assert rules_for(twice, JANE, "").rules == tuple(POD_READER)  # a rule given twice, said once
    assert rules_for(object(), JANE, "").incomplete  # an authorizer that cannot list rules
    assert ALL_RULES.rules[0]["resources"] == ["*"]
