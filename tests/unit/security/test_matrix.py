"""The issue's security matrix, end to end through the pieces the API server chains.

credentials -> authenticate (401) -> authorize with Node + RBAC (403) -> NodeRestriction
(403) -> 200. `answer` is the reference composition for the server.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from k3os.security import authn, authz
from k3os.security.bootstrap import ServerPKI, ensure_server_pki
from k3os.security.bootstrap_policy import bootstrap_objects
from k3os.security.join import issue_node_certificate, make_node_csr, parse_request
from k3os.security.node import NodeAuthorizer, PodGraph
from k3os.security.noderestriction import admit_node_request
from k3os.security.pki import KeyPair, issue
from k3os.security.rbac import RBACAuthorizer, StaticRuleSource
from k3os.security.serviceaccount import TokenSigner, TokenVerifier

from .conftest import NOW

LATER = NOW + dt.timedelta(days=400)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ServerPKI:
    return ensure_server_pki(Path(tmp_path_factory.mktemp("data")), now=NOW)


def der(pem: str | bytes) -> bytes:
    data = pem.encode() if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)


def node_cert(pki: ServerPKI, name: str) -> bytes:
    request = parse_request(
        {"nodeName": name, "csr": make_node_csr(name)[1], "nodePassword": "p" * 16}
    )
    return der(issue_node_certificate(pki.ca, request, now=NOW)["certificate"])


def user_cert(ca: KeyPair, name: str, groups: list[str]) -> bytes:
    cert, _ = issue(ca, name, organizations=groups, client=True, now=NOW)
    return cert.public_bytes(serialization.Encoding.DER)


def answer(
    pki: ServerPKI,
    creds: authn.Credentials,
    method: str,
    query: dict[str, str] | None = None,
    new: Any = None,
    old: Any = None,
    at: dt.datetime = NOW + dt.timedelta(days=1),
) -> int:
    """What the server answers: 401, 403 or 200."""
    signer = TokenSigner(pki.service_account_key)
    chain = authn.union(
        authn.ClientCertAuthenticator([pki.ca.cert], lambda: at),
        authn.ServiceAccountAuthenticator(TokenVerifier([signer.public_key]), lambda: at),
        authn.JoinTokenAuthenticator([pki.token]),
    )
    user = chain.authenticate(creds)
    if user is None:
        return 401
    policy = StaticRuleSource().add(*bootstrap_objects())
    policy.add(
        {
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "vic"},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "vic"}],
        }
    )
    graph = PodGraph.from_pods(
        [
            {
                "metadata": {"namespace": "apps", "name": "web"},
                "spec": {"nodeName": "b", "volumes": [{"secret": {"secretName": "b-secret"}}]},
            }
        ]
    )
    authorizer = authz.union(NodeAuthorizer(graph), RBACAuthorizer(policy))
    attrs = authz.request_attributes(user, method, creds.path, query)
    if not authorizer.authorize(attrs).allowed:
        return 403
    if not admit_node_request(attrs, new, old).allowed:
        return 403
    return 200


@pytest.fixture(scope="module")
def who(pki: ServerPKI, other_ca: KeyPair) -> dict[str, tuple[bytes | None, str | None]]:
    """Each caller as (client certificate DER, bearer token)."""
    signer = TokenSigner(pki.service_account_key)
    day = NOW + dt.timedelta(days=1)
    return {
        "anonymous": (None, None),
        "admin": (pki.admin.cert.public_bytes(serialization.Encoding.DER), None),
        "stranger": (user_cert(other_ca, "system:admin", ["system:masters"]), None),
        "vic": (user_cert(pki.ca, "vic", []), None),
        "node-a": (node_cert(pki, "a"), None),
        "sa": (None, signer.issue("apps", "ci", "u", now=day)),
        "sa-vault": (None, signer.issue("apps", "ci", "u", audiences=["vault"], now=day)),
        "join": (None, str(pki.token)),
    }


NODE_B = {"metadata": {"name": "b", "labels": {}}, "spec": {}}
NODE_A = {"metadata": {"name": "a", "labels": {"node-role.kubernetes.io/worker": "1"}}}
NODE_A_BARE = {"metadata": {"name": "a", "labels": {}}}
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
SECRETS = "/api/v1/namespaces/apps/secrets"
PODS = "/api/v1/namespaces/apps/pods"
NODES = "/api/v1/nodes"
RELABEL = {"new": NODE_A_BARE, "old": NODE_A}
TOUCH_B = {"new": NODE_B, "old": NODE_B}
LEASE_A = {"new": {"metadata": {"name": "a"}}}

CASES = [
    # id, caller, method, path, extra arguments, answer
    ("anonymous", "anonymous", "GET", "/api/v1/nodes", {}, 401),
    ("cert from another CA", "stranger", "GET", "/api/v1/nodes", {}, 401),
    ("expired cert", "admin", "GET", "/api/v1/nodes", {"at": LATER}, 401),
    ("SA token, wrong audience", "sa-vault", "GET", "/api/v1/pods", {}, 401),
    ("SA token, no grant", "sa", "GET", "/api/v1/pods", {}, 403),
    ("join token off the join path", "join", "GET", "/api/v1/nodes", {}, 401),
    ("join token on the join path", "join", "POST", "/v1-k3os/node-certificate", {}, 200),
    ("cluster-admin writes", "admin", "POST", SECRETS, {}, 200),
    ("cluster-admin relabels", "admin", "PUT", f"{NODES}/a", RELABEL, 200),
    ("view reads", "vic", "GET", PODS, {}, 200),
    ("view cannot write", "vic", "POST", PODS, {}, 403),
    ("view cannot read secrets", "vic", "GET", SECRETS, {}, 403),
    ("node A updates node B", "node-a", "PUT", f"{NODES}/b", TOUCH_B, 403),
    ("node A updates B's Lease", "node-a", "PUT", f"{LEASES}/b", {}, 403),
    ("node A renews its Lease", "node-a", "PUT", f"{LEASES}/a", LEASE_A, 200),
    ("node A reads B's secret", "node-a", "GET", f"{SECRETS}/b-secret", {}, 403),
    ("node A drops its node-role", "node-a", "PUT", f"{NODES}/a", RELABEL, 403),
    ("node A lists nodes", "node-a", "GET", "/api/v1/nodes", {}, 200),
]  # fmt: skip


@pytest.mark.parametrize(
    ("caller", "method", "path", "extra", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_matrix(
    pki: ServerPKI,
    who: dict[str, tuple[bytes | None, str | None]],
    caller: str,
    method: str,
    path: str,
    extra: dict[str, Any],
    code: int,
) -> None:
    cert, token = who[caller]
    assert answer(pki, authn.Credentials(path, cert, token), method, **extra) == code
