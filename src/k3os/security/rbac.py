"""RBAC evaluation with the standard Kubernetes semantics, over plain dict objects.

Objects are the JSON forms of `rbac.authorization.k8s.io/v1` Role, ClusterRole,
RoleBinding and ClusterRoleBinding, read through a `RuleSource` the server feeds from its
store or cache (`StaticRuleSource` holds lists, for tests and for the bootstrap policy).

Matching, as upstream:
- verbs, apiGroups: exact or `*`;
- resources: `*`, the exact `resource` or `resource/subresource` (`pods` does not cover
  `pods/status`), or `*/subresource`;
- resourceNames: empty means any; otherwise the request's name must be listed (so a rule
  with names never allows list, watch without a name, or create);
- nonResourceURLs: exact, `*`, or a prefix ending in `*`;
- subjects: User (name), Group (one of the user's groups), ServiceAccount
  (`system:serviceaccount:<ns>:<name>`, the namespace defaulting to the RoleBinding's).
ClusterRoleBindings apply everywhere; RoleBindings only in their namespace, to a Role of
that namespace or to a ClusterRole. A ClusterRole with an `aggregationRule` holds the
union of the rules of every ClusterRole its selectors match (followed transitively):
what upstream's aggregation controller would have written into it. RBAC never denies: it
allows or has no opinion, and `union` in authz turns silence into a 403.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from k3os.security.authn import UserInfo
from k3os.security.authz import Attributes, Decision, Rules, Verdict
from k3os.security.serviceaccount import service_account_username

__all__ = [
    "RBACAuthorizer",
    "RuleSource",
    "StaticRuleSource",
    "aggregated_rules",
    "rule_allows",
    "selector_matches",
    "subject_matches",
]

Obj = Mapping[str, Any]


class RuleSource(Protocol):
    """Where the authorizer reads the policy from (the server's store or cache)."""

    def cluster_roles(self) -> Iterable[Obj]: ...
    def cluster_role_bindings(self) -> Iterable[Obj]: ...
    def roles(self, namespace: str) -> Iterable[Obj]: ...
    def role_bindings(self, namespace: str) -> Iterable[Obj]: ...


@dataclass
class StaticRuleSource:
    """A RuleSource over in-memory lists; `add` sorts objects by kind."""

    objects: list[Obj] = field(default_factory=list)

    def add(self, *objs: Obj) -> StaticRuleSource:
        self.objects.extend(objs)
        return self

    def _of_kind(self, kind: str, namespace: str | None = None) -> Iterator[Obj]:
        for obj in self.objects:
            if obj.get("kind") != kind:
                continue
            if namespace is None or _meta(obj).get("namespace", "") == namespace:
                yield obj

    def cluster_roles(self) -> Iterable[Obj]:
        return self._of_kind("ClusterRole")

    def cluster_role_bindings(self) -> Iterable[Obj]:
        return self._of_kind("ClusterRoleBinding")

    def roles(self, namespace: str) -> Iterable[Obj]:
        return self._of_kind("Role", namespace)

    def role_bindings(self, namespace: str) -> Iterable[Obj]:
        return self._of_kind("RoleBinding", namespace)


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _list(rule: Obj, key: str) -> Sequence[str]:
    value = rule.get(key)
    return value if isinstance(value, list) else ()


def _objs(obj: Obj | None, key: str) -> list[Obj]:
    value = obj.get(key) if obj else None
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _covers(values: Sequence[str], wanted: str) -> bool:
    return "*" in values or wanted in values


def _resource_covers(resources: Sequence[str], attrs: Attributes) -> bool:
    combined = attrs.combined_resource
    for res in resources:
        if res in ("*", combined):
            return True
        if attrs.subresource and res == f"*/{attrs.subresource}":
            return True
    return False


def _url_covers(urls: Sequence[str], path: str) -> bool:
    for url in urls:
        if url == "*" or url == path:
            return True
        if url.endswith("*") and path.startswith(url[:-1]):
            return True
    return False


def rule_allows(rule: Obj, attrs: Attributes) -> bool:
    """Whether one PolicyRule covers the request."""
    if not _covers(_list(rule, "verbs"), attrs.verb):
        return False
    if not attrs.is_resource_request:
        return _url_covers(_list(rule, "nonResourceURLs"), attrs.path)
    names = _list(rule, "resourceNames")
    return (
        _covers(_list(rule, "apiGroups"), attrs.api_group)
        and _resource_covers(_list(rule, "resources"), attrs)
        and (not names or attrs.name in names)
    )


def subject_matches(subject: Obj, user: UserInfo, binding_namespace: str = "") -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name) and name == user.name
    if kind == "Group":
        return bool(name) and user.in_group(str(name))
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(name and namespace) and user.name == service_account_username(
            str(namespace), str(name)
        )
    return False


def _expression_matches(expr: Obj, labels: Mapping[str, str]) -> bool:
    key, op = expr.get("key", ""), expr.get("operator")
    values = _list(expr, "values")
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False  # an unknown operator selects nothing


def selector_matches(selector: Obj, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector; an empty selector matches nothing here (upstream: aggregation)."""
    match_labels = selector.get("matchLabels") or {}
    exprs = _objs(selector, "matchExpressions")
    if not match_labels and not exprs:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    return all(_expression_matches(e, labels) for e in exprs)


def _labels(obj: Obj) -> Mapping[str, str]:
    labels = _meta(obj).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def aggregated_rules(role: Obj, cluster_roles: Sequence[Obj]) -> list[Obj]:
    """The effective rules of a ClusterRole, expanding aggregationRule transitively."""
    rules: list[Obj] = []
    seen: set[str] = set()
    pending = [role]
    while pending:
        current = pending.pop()
        name = str(_meta(current).get("name", ""))
        if name in seen:
            continue
        seen.add(name)
        aggregation = current.get("aggregationRule")
        selectors = _objs(aggregation, "clusterRoleSelectors")
        if not selectors:
            rules.extend(_objs(current, "rules"))
            continue
        for other in cluster_roles:
            if any(selector_matches(s, _labels(other)) for s in selectors):
                pending.append(other)
    return rules


def _subject_text(subject: Obj) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} "{subject.get("namespace", "")}/{name}"'
    return f'{kind} "{name}"'


class RBACAuthorizer:
    """Allows what some binding of the user grants; otherwise no opinion."""

    def __init__(self, source: RuleSource) -> None:
        self._source = source

    def rules_for(self, user: UserInfo, namespace: str) -> Rules:
        """The rules of every binding that names `user`: cluster-wide ones, and those bound
        in `namespace` (none when it is "")."""
        cluster_roles = list(self._source.cluster_roles())
        by_name = {str(_meta(r).get("name", "")): r for r in cluster_roles}
        rules: list[Obj] = []
        for binding in self._source.cluster_role_bindings():
            ref = binding.get("roleRef") or {}
            role = by_name.get(ref.get("name", "")) if ref.get("kind") == "ClusterRole" else None
            if role is not None and _names(binding, user, ""):
                rules += aggregated_rules(role, cluster_roles)
        if namespace:
            roles = {str(_meta(r).get("name", "")): r for r in self._source.roles(namespace)}
            for binding in self._source.role_bindings(namespace):
                ref = binding.get("roleRef") or {}
                kind, ref_name = ref.get("kind"), ref.get("name", "")
                role = by_name.get(ref_name) if kind == "ClusterRole" else roles.get(ref_name)
                if role is not None and _names(binding, user, namespace):
                    rules += aggregated_rules(role, cluster_roles)
        return Rules(tuple(rules))

    def authorize(self, attrs: Attributes) -> Decision:
        cluster_roles = list(self._source.cluster_roles())
        by_name = {str(_meta(r).get("name", "")): r for r in cluster_roles}
        for binding in self._source.cluster_role_bindings():
            ref = binding.get("roleRef") or {}
            if ref.get("kind") != "ClusterRole":
                continue
            role = by_name.get(ref.get("name", ""))
            reason = _grant(binding, "", role, cluster_roles, attrs)
            if reason:
                return Decision(Verdict.ALLOW, f"RBAC: allowed by ClusterRoleBinding {reason}")
        if attrs.namespace and attrs.is_resource_request:
            roles = {str(_meta(r).get("name", "")): r for r in self._source.roles(attrs.namespace)}
            for binding in self._source.role_bindings(attrs.namespace):
                ref = binding.get("roleRef") or {}
                kind, ref_name = ref.get("kind"), ref.get("name", "")
                role = by_name.get(ref_name) if kind == "ClusterRole" else None
                if kind == "Role":
                    role = roles.get(ref_name)
                reason = _grant(binding, attrs.namespace, role, cluster_roles, attrs)
                if reason:
                    return Decision(Verdict.ALLOW, f"RBAC: allowed by RoleBinding {reason}")
        return Decision(Verdict.NO_OPINION)


def _names(binding: Obj, user: UserInfo, namespace: str) -> bool:
    return any(subject_matches(s, user, namespace) for s in _objs(binding, "subjects"))


def _grant(
    binding: Obj, namespace: str, role: Obj | None, cluster_roles: Sequence[Obj], attrs: Attributes
) -> str:
    """How `binding` allows the request (for the reason text), or "" when it does not."""
    if role is None:
        return ""
    subjects = _objs(binding, "subjects")
    subject = next((s for s in subjects if subject_matches(s, attrs.user, namespace)), None)
    if subject is None:
        return ""
    if not any(rule_allows(rule, attrs) for rule in aggregated_rules(role, cluster_roles)):
        return ""
    name = str(_meta(binding).get("name", ""))
    label = f"{name}/{namespace}" if namespace else name
    return (
        f'"{label}" of {role.get("kind", "ClusterRole")} "{_meta(role).get("name", "")}" '
        f"to {_subject_text(subject)}"
    )
