"""Security benchmark: the per-request cost of authentication and authorization.

Figures (one JSON line each, rates in decisions or verifications per second):
  attrs/parse             request_attributes alone (baseline of the authz figures)
  rbac/admin-allow        cluster-admin, allowed by the first ClusterRoleBinding
  rbac/viewer-deny        a view-bound user writing: every binding is walked, then denied
  rbac/rolebinding-allow  a namespaced grant behind N ClusterRoleBindings and RoleBindings
  node/lease-update       a node renewing its Lease through Node + RBAC
  node/secret-read        a node reading a Secret its pod uses, with P pods in the graph
  x509/load-der           parsing a DER certificate (baseline of the authn figures)
  authn/client-cert       a client certificate: parse, chain signature, validity, usage
  authn/sa-token          a ServiceAccount JWT: ES256 verification and claims
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from _common import emit, machine, now, parse_args
from k3os.security import authn, authz
from k3os.security.bootstrap_policy import bootstrap_objects
from k3os.security.node import NodeAuthorizer, PodGraph, node_user
from k3os.security.pki import KeyPair, issue, make_ca, new_key
from k3os.security.rbac import RBACAuthorizer, StaticRuleSource
from k3os.security.serviceaccount import TokenSigner, TokenVerifier

BENCH = "security"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def rate(fn: Callable[[], Any], seconds: float) -> float:
    calls, start = 0, now()
    while True:
        for _ in range(50):
            fn()
        calls += 50
        elapsed = now() - start
        if elapsed >= seconds:
            return calls / elapsed


def policy(bindings: int) -> StaticRuleSource:
    source = StaticRuleSource().add(*bootstrap_objects())
    for i in range(bindings):
        subject = [{"kind": "User", "name": f"user-{i}"}]
        source.add(
            {
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"crb-{i}"},
                "roleRef": {"kind": "ClusterRole", "name": "view"},
                "subjects": subject,
            },
            {
                "kind": "RoleBinding",
                "metadata": {"name": f"rb-{i}", "namespace": "apps"},
                "roleRef": {"kind": "ClusterRole", "name": "edit"},
                "subjects": subject,
            },
        )
    return source


def main() -> None:
    args = parse_args(__doc__ or "")
    seconds = 0.2 if args.quick else 1.0
    bindings, pods = (20, 200) if args.quick else (200, 5000)
    extra = {"bindings": bindings, "pods": pods, **machine()}

    admin = authn.UserInfo("system:admin", groups=("system:masters", authn.AUTHENTICATED))
    viewer = authn.UserInfo("user-0", groups=(authn.AUTHENTICATED,))
    editor = authn.UserInfo(f"user-{bindings - 1}", groups=(authn.AUTHENTICATED,))
    rbac = RBACAuthorizer(policy(bindings))
    graph = PodGraph.from_pods(
        {
            "metadata": {"namespace": "apps", "name": f"p{i}"},
            "spec": {"nodeName": f"n{i % 100}", "volumes": [{"secret": {"secretName": f"s{i}"}}]},
        }
        for i in range(pods)
    )
    chain = authz.union(NodeAuthorizer(graph), rbac)
    path = "/api/v1/namespaces/apps/pods"
    lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n7"
    node = node_user("n7")

    base = rate(lambda: authz.request_attributes(admin, "POST", path), seconds)
    emit(BENCH, "attrs/parse", "rate", base, "ops/s", **extra)
    cases: dict[str, tuple[Any, authn.UserInfo, str, str]] = {
        "rbac/admin-allow": (rbac, admin, "POST", path),
        "rbac/viewer-deny": (rbac, viewer, "POST", "/api/v1/namespaces/other/pods"),
        "rbac/rolebinding-allow": (rbac, editor, "POST", path),
        "node/lease-update": (chain, node, "PUT", lease),
        "node/secret-read": (chain, node, "GET", "/api/v1/namespaces/apps/secrets/s7"),
    }
    for case, (authorizer, user, method, url) in cases.items():
        expected = case != "rbac/viewer-deny"
        assert authorizer.authorize(authz.request_attributes(user, method, url)).allowed is expected

        def decide(
            a: Any = authorizer, u: authn.UserInfo = user, m: str = method, p: str = url
        ) -> None:
            a.authorize(authz.request_attributes(u, m, p))

        emit(BENCH, case, "rate", rate(decide, seconds), "ops/s", baseline="attrs/parse", **extra)

    ca_cert, ca_key = make_ca("bench-ca", NOW)
    ca = KeyPair(ca_cert, ca_key, Path("/dev/null"), Path("/dev/null"))
    cert, _ = issue(ca, "jane", organizations=["dev"], client=True, now=NOW)
    der = cert.public_bytes(serialization.Encoding.DER)
    emit(
        BENCH,
        "x509/load-der",
        "rate",
        rate(lambda: x509.load_der_x509_certificate(der), seconds),
        "ops/s",
        **extra,
    )
    certs = authn.ClientCertAuthenticator([ca_cert], lambda: NOW)
    creds = authn.Credentials("/api", der)
    assert certs.authenticate(creds) is not None
    emit(
        BENCH,
        "authn/client-cert",
        "rate",
        rate(lambda: certs.authenticate(creds), seconds),
        "ops/s",
        baseline="x509/load-der",
        **extra,
    )
    signer = TokenSigner(new_key())
    tokens = authn.ServiceAccountAuthenticator(TokenVerifier([signer.public_key]), lambda: NOW)
    bearer = authn.Credentials("/api", bearer_token=signer.issue("apps", "ci", "u", now=NOW))
    assert tokens.authenticate(bearer) is not None
    emit(
        BENCH,
        "authn/sa-token",
        "rate",
        rate(lambda: tokens.authenticate(bearer), seconds),
        "ops/s",
        baseline="x509/load-der",
        **extra,
    )


if __name__ == "__main__":
    main()
