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
  tls/handshake-chain-built  full TLS 1.3 handshakes (both ends in this process, memory
                          BIOs, the cluster's P-256 certificates, the client's verified),
                          each end building its chain from its trust store as OpenSSL does
                          by default (the baseline: before `k3os.security.tlschain`)
  tls/handshake-leaf-only the same with each end's context as k3os makes it: its
                          certificate sent as loaded (the leaf alone)
"""

from __future__ import annotations

import datetime as dt
import ssl
import sys
import tempfile
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
from k3os.security.pki import KeyPair, issue, make_ca, new_key, save_pair
from k3os.security.rbac import RBACAuthorizer, StaticRuleSource
from k3os.security.serviceaccount import TokenSigner, TokenVerifier
from k3os.security.tlschain import send_leaf_only

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


def tls_contexts(d: Path, *, leaf_only: bool) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The server's context as `k3os server` makes it (uvicorn's, no tickets) and a node's."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(d / "server.crt", d / "server.key")
    server.load_verify_locations(d / "ca.crt")
    server.verify_mode = ssl.CERT_OPTIONAL
    server.num_tickets = 0
    client = ssl.create_default_context(cafile=str(d / "ca.crt"))
    client.load_cert_chain(d / "client.crt", d / "client.key")
    if leaf_only:
        assert send_leaf_only(server) and send_leaf_only(client)
    return server, client


def _step(end: ssl.SSLObject) -> bool:
    """One turn of `end`'s handshake: True once it is complete."""
    try:
        end.do_handshake()
    except ssl.SSLWantReadError:
        return False
    return True


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="k3os")
    server_done = client_done = False
    while not (server_done and client_done):
        client_done = client_done or _step(client)
        s_in.write(c_out.read())
        server_done = server_done or _step(server)
        c_in.write(s_out.read())
    assert server.getpeercert()


def tls_handshakes(seconds: float, extra: dict[str, Any]) -> None:
    """Both ways in alternating rounds, so that a busy moment of the machine falls on
    both: the rate of each is its handshakes over its own time."""
    with tempfile.TemporaryDirectory(prefix="k3os-bench-tls-") as tmp:
        d = Path(tmp)
        ca_cert, ca_key = make_ca("bench-ca", NOW)
        ca = save_pair(ca_cert, ca_key, d / "ca.crt", d / "ca.key")
        cert, key = issue(ca, "k3os", server_names=["k3os"], now=NOW)
        save_pair(cert, key, d / "server.crt", d / "server.key")  # type: ignore[arg-type]
        cert, key = issue(ca, "system:node:n1", organizations=["system:nodes"], client=True,
                          now=NOW)  # fmt: skip
        save_pair(cert, key, d / "client.crt", d / "client.key")  # type: ignore[arg-type]
        ways = {"chain-built": tls_contexts(d, leaf_only=False),
                "leaf-only": tls_contexts(d, leaf_only=True)}  # fmt: skip
        done = dict.fromkeys(ways, 0)
        spent = dict.fromkeys(ways, 0.0)
        for _ in range(10):
            for way, (server, client) in ways.items():
                start = now()
                while now() - start < seconds / 10:
                    for _ in range(10):
                        handshake(server, client)
                    done[way] += 10
                spent[way] += now() - start
    emit(BENCH, "tls/handshake-chain-built", "rate", done["chain-built"] / spent["chain-built"],
         "handshakes/s", **extra)  # fmt: skip
    emit(BENCH, "tls/handshake-leaf-only", "rate", done["leaf-only"] / spent["leaf-only"],
         "handshakes/s", baseline="tls/handshake-chain-built", **extra)  # fmt: skip


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
    tls_handshakes(2 * seconds, extra)


if __name__ == "__main__":
    main()
