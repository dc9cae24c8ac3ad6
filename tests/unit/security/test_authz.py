"""Request classification, the union of authorizers, and the 403 wording."""

from __future__ import annotations

import pytest

from k3os.security.authn import UserInfo
from k3os.security.authz import (
    Attributes,
    Decision,
    Verdict,
    forbidden_reason,
    request_attributes,
    union,
)

JANE = UserInfo("jane", groups=("dev",))


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/pods", {}, ("list", "", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/d/pods", {}, ("list", "d", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/d/pods/p", {}, ("get", "d", "", "pods", "", "p")),
        ("HEAD", "/api/v1/namespaces/d/pods/p", {}, ("get", "d", "", "pods", "", "p")),
        ("GET", "/api/v1/namespaces/d/pods", {"watch": "true"}, ("watch", "d", "", "pods", "", "")),
        ("GET", "/api/v1/watch/namespaces/d/pods", {}, ("watch", "d", "", "pods", "", "")),
        ("GET", "/api/v1/pods", {"watch": "0"}, ("list", "", "", "pods", "", "")),
        (
            "GET",
            "/api/v1/namespaces/d/secrets",
            {"fieldSelector": "metadata.name=s1", "watch": "1"},
            ("watch", "d", "", "secrets", "", "s1"),
        ),
        (
            "GET",
            "/api/v1/namespaces/d/secrets",
            {"fieldSelector": "type=x,metadata.name==s2"},
            ("list", "d", "", "secrets", "", "s2"),
        ),
        (
            "GET",
            "/api/v1/namespaces/d/secrets",
            {"fieldSelector": "metadata.name!=s3"},
            ("list", "d", "", "secrets", "", ""),
        ),
        ("POST", "/api/v1/namespaces/d/pods", {}, ("create", "d", "", "pods", "", "")),
        ("PUT", "/api/v1/nodes/n1/status", {}, ("update", "", "", "nodes", "status", "n1")),
        ("PATCH", "/api/v1/nodes/n1", {}, ("patch", "", "", "nodes", "", "n1")),
        ("DELETE", "/api/v1/namespaces/d/pods/p", {}, ("delete", "d", "", "pods", "", "p")),
        ("DELETE", "/api/v1/namespaces/d/pods", {}, ("deletecollection", "d", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/d", {}, ("get", "d", "", "namespaces", "", "d")),
        (
            "PUT",
            "/api/v1/namespaces/d/finalize",
            {},
            ("update", "d", "", "namespaces", "finalize", "d"),
        ),
        ("GET", "/api/v1/namespaces", {}, ("list", "", "", "namespaces", "", "")),
        (
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
            {},
            ("update", "kube-node-lease", "coordination.k8s.io", "leases", "", "n1"),
        ),
        (
            "PUT",
            "/apis/apps/v1/namespaces/d/deployments/web/scale",
            {},
            ("update", "d", "apps", "deployments", "scale", "web"),
        ),
    ],
)
def test_resource_requests(
    method: str, path: str, query: dict[str, str], expected: tuple[str, ...]
) -> None:
    a = request_attributes(JANE, method, path, query)
    assert a.is_resource_request
    assert (a.verb, a.namespace, a.api_group, a.resource, a.subresource, a.name) == expected


@pytest.mark.parametrize(
    ("method", "path", "verb"),
    [
        ("GET", "/healthz", "get"),
        ("HEAD", "/version", "get"),
        ("GET", "/api", "get"),
        ("GET", "/api/v1", "get"),
        ("GET", "/apis/apps/v1", "get"),
        ("GET", "/apis", "get"),
        ("GET", "/openapi/v3", "get"),
        ("POST", "/v1-k3os/node-certificate", "post"),
    ],
)
def test_non_resource_requests(method: str, path: str, verb: str) -> None:
    a = request_attributes(JANE, method, path)
    assert not a.is_resource_request
    assert (a.verb, a.path) == (verb, path)


class Fixed:
    def __init__(self, verdict: Verdict, reason: str = "") -> None:
        self.decision = Decision(verdict, reason)
        self.calls = 0

    def authorize(self, attrs: Attributes) -> Decision:
        self.calls += 1
        return self.decision


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([Verdict.ALLOW, Verdict.DENY], Verdict.ALLOW),
        ([Verdict.NO_OPINION, Verdict.ALLOW], Verdict.ALLOW),
        ([Verdict.DENY, Verdict.ALLOW], Verdict.DENY),
        ([Verdict.NO_OPINION, Verdict.NO_OPINION], Verdict.DENY),
        ([], Verdict.DENY),
    ],
)
def test_union_first_opinion_wins(verdicts: list[Verdict], expected: Verdict) -> None:
    attrs = Attributes(JANE, "get", resource="pods")
    assert union(*(Fixed(v) for v in verdicts)).authorize(attrs).verdict is expected


def test_union_collects_reasons_and_stops_early() -> None:
    first, second, third = (
        Fixed(Verdict.NO_OPINION, "a"),
        Fixed(Verdict.NO_OPINION, "b"),
        Fixed(Verdict.ALLOW),
    )
    attrs = Attributes(JANE, "get", resource="pods")
    assert union(first, second).authorize(attrs) == Decision(Verdict.DENY, "a, b")
    union(third, first).authorize(attrs)
    assert first.calls == 1  # not asked again after the ALLOW


@pytest.mark.parametrize(
    ("attrs", "text"),
    [
        (
            Attributes(JANE, "list", "default", "", "pods"),
            'User "jane" cannot list resource "pods" in API group "" in the namespace "default"',
        ),
        (
            Attributes(JANE, "update", "", "", "nodes", "status", "n1"),
            'User "jane" cannot update resource "nodes/status" in API group ""'
            " at the cluster scope",
        ),
        (
            Attributes(JANE, "get", path="/metrics", is_resource_request=False),
            'User "jane" cannot get path "/metrics"',
        ),
    ],
)
def test_forbidden_reason_wording(attrs: Attributes, text: str) -> None:
    assert forbidden_reason(attrs) == text
    assert forbidden_reason(attrs, Decision(Verdict.DENY, "why")) == text + ": why"
    assert not Decision(Verdict.DENY).allowed and Decision(Verdict.ALLOW).allowed
