"""What an authorizer decides about, and how the decisions of several authorizers combine.

The API server turns each request into `Attributes` (`request_attributes` does it from the
method, path and query) and asks an `Authorizer` — normally `union(NodeAuthorizer(...),
RBACAuthorizer(...))`. Each authorizer answers ALLOW, DENY or NO_OPINION; the union stops at
the first ALLOW or DENY and denies when nobody had an opinion. A denial is answered with
403 and `forbidden_reason(attrs, decision)`, the text kube-apiserver puts after
`pods "x" is forbidden: `.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from k3os.security.authn import UserInfo

__all__ = [
    "ALL_RULES",
    "Attributes",
    "Authorizer",
    "Decision",
    "Rules",
    "Verdict",
    "forbidden_reason",
    "request_attributes",
    "rules_for",
    "union",
]


class Verdict(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


@dataclass(frozen=True)
class Decision:
    """An authorizer's answer; `reason` is for the log and the 403 message (may be empty)."""

    verdict: Verdict
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


@dataclass(frozen=True)
class Attributes:
    """One request as the authorizers see it.

    Resource requests fill verb (get, list, watch, create, update, patch, delete,
    deletecollection), namespace ("" for cluster-scoped or all namespaces), api_group
    ("" for the core group), resource (plural), subresource and name (may be "" for
    list/create). Non-resource requests fill verb (the lower-cased HTTP method) and path.
    """

    user: UserInfo
    verb: str
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""
    is_resource_request: bool = True

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> Decision: ...


@dataclass(frozen=True)
class Rules:
    """What an authorizer allows a user in a namespace, as RBAC rules (`kubectl auth can-i
    --list`); `incomplete` when it cannot say all of it (`error` says why)."""

    rules: tuple[Mapping[str, Any], ...] = ()
    incomplete: bool = False
    error: str = ""


ALL_RULES = Rules(
    (
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
        {"verbs": ["*"], "nonResourceURLs": ["*"]},
    )
)


def rules_for(authorizer: object, user: UserInfo, namespace: str) -> Rules:
    """`authorizer.rules_for(user, namespace)`, or incomplete when it cannot list rules."""
    resolve = getattr(authorizer, "rules_for", None)
    if resolve is None:
        return Rules(incomplete=True, error=f"{type(authorizer).__name__} lists no rules")
    answer: Rules = resolve(user, namespace)
    return answer


class _Union:
    def __init__(self, authorizers: tuple[Authorizer, ...]) -> None:
        self._authorizers = authorizers

    def rules_for(self, user: UserInfo, namespace: str) -> Rules:
        """Every authorizer's rules together; incomplete if any of them is."""
        answers = [rules_for(a, user, namespace) for a in self._authorizers]
        rules: dict[str, Mapping[str, Any]] = {}  # a rule two authorizers give, said once
        for answer in answers:
            for rule in answer.rules:
                rules.setdefault(repr(sorted(rule.items())), rule)
        return Rules(
            tuple(rules.values()),
            any(answer.incomplete for answer in answers),
            ", ".join(answer.error for answer in answers if answer.error),
        )

    def authorize(self, attrs: Attributes) -> Decision:
        reasons = []
        for authorizer in self._authorizers:
            decision = authorizer.authorize(attrs)
            if decision.verdict is not Verdict.NO_OPINION:
                return decision
            if decision.reason:
                reasons.append(decision.reason)
        return Decision(Verdict.DENY, ", ".join(reasons))


def union(*authorizers: Authorizer) -> Authorizer:
    """Ask each authorizer in turn; the first ALLOW or DENY wins, silence means DENY."""
    return _Union(authorizers)


def forbidden_reason(attrs: Attributes, decision: Decision | None = None) -> str:
    """The upstream wording: `User "u" cannot list resource "pods" in API group "" ...`."""
    who = f'User "{attrs.user.name}"'
    if not attrs.is_resource_request:
        text = f'{who} cannot {attrs.verb} path "{attrs.path}"'
    else:
        text = (
            f'{who} cannot {attrs.verb} resource "{attrs.combined_resource}" '
            f'in API group "{attrs.api_group}"'
        )
        text += (
            f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
        )
    if decision is not None and decision.reason:
        text += f": {decision.reason}"
    return text


_READ_METHODS = {"GET", "HEAD"}
_WRITE_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


def _name_from_field_selector(selector: str | None) -> str:
    # A list or watch narrowed to one object by name is authorized as that object (as
    # kube-apiserver does): kubelets watch single Secrets this way.
    for term in (selector or "").split(","):
        key, sep, value = term.partition("=")
        if sep and key.strip() == "metadata.name":
            return value.removeprefix("=").strip()
    return ""


def request_attributes(
    user: UserInfo, method: str, path: str, query: Mapping[str, str] | None = None
) -> Attributes:
    """Classify an HTTP request the way kube-apiserver's request-info resolver does.

    `/api/v1/...` and `/apis/<group>/<version>/...` are resource requests; everything else
    (discovery roots, `/healthz`, `/version`, `/openapi/...`) is a non-resource request.
    """
    query = query or {}
    method = method.upper()
    parts = [p for p in path.split("/") if p]
    verb_for_path = method.lower() if method != "HEAD" else "get"
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return Attributes(user, verb_for_path, path=path, is_resource_request=False)
    if not rest:  # /api/v1 or /apis/g/v: the group-version discovery document
        return Attributes(user, verb_for_path, path=path, is_resource_request=False)
    watch_prefix = rest[0] == "watch"  # the old /api/v1/watch/... form
    if watch_prefix:
        rest = rest[1:] or [""]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 2:
        namespace = rest[1]
        # /namespaces/<ns>, /namespaces/<ns>/status and /finalize are the Namespace itself.
        if len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = "/".join(rest[2:])
    if method in _READ_METHODS:
        watching = watch_prefix or _truthy(query.get("watch"))
        verb = "watch" if watching else ("get" if name else "list")
        if not name:
            name = _name_from_field_selector(query.get("fieldSelector"))
    else:
        verb = _WRITE_VERBS.get(method, method.lower())
        if verb == "delete" and not name:
            verb = "deletecollection"
    return Attributes(
        user,
        verb,
        namespace=namespace,
        api_group=group,
        resource=resource,
        subresource=subresource,
        name=name,
        path=path,
    )
