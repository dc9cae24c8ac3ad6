"""Issue 6's security matrix against a real `k3os server` over real TLS: each case a test.

One server for the module (SQLite, the admin kubeconfig it writes); callers are client
certificates signed here with the server's CA (or another CA), ServiceAccount tokens
minted through the TokenRequest API, and nodes that join with `k3os.agent.join`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from k3os.agent.join import (
    CAMismatch,
    JoinFailed,
    JoinRefused,
    ServerUnreachable,
    ensure_node_credentials,
)
from k3os.security.pki import KeyPair, issue, key_to_pem, load_pair, make_ca
from k3os.security.tokens import ca_hash, parse_token
from tests.integration._apiserver import RunningServer, kubectl_env, running_server

pytestmark = pytest.mark.integration

LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


@dataclass(frozen=True)
class Caller:
    """How one identity connects: a client certificate and/or a bearer token."""

    cert: tuple[Path, Path] | None = None
    token: str | None = None


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else ""


def call(
    server: RunningServer,
    who: Caller,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Answer:
    import http.client

    ctx = ssl.create_default_context(cafile=str(server.tls / "ca.crt"))
    if who.cert is not None:
        ctx.load_cert_chain(*who.cert)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=15)
    headers = {"Accept": "application/json", **(headers or {})}
    if who.token:
        headers["Authorization"] = f"Bearer {who.token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = content_type
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = raw
    return Answer(resp.status, parsed)


def write_identity(directory: Path, ca: KeyPair, name: str, groups: list[str], **kw: Any) -> Caller:
    cert, key = issue(ca, name, organizations=groups, client=True, **kw)
    assert key is not None
    crt, pem = directory / f"{name}.crt", directory / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key_to_pem(key))
    return Caller(cert=(crt, pem))


def eventually(check: Any, what: str, within: float = 20.0) -> Any:
    """Poll `check` until it returns something truthy (the RBAC cache follows a watch)."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, what
            return result
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("security") / "data"
    with running_server(data, ["--disable-controller-manager"]) as running:
        yield running


@pytest.fixture(scope="module")
def ca(server: RunningServer) -> KeyPair:
    return load_pair(server.tls / "ca.crt", server.tls / "ca.key")


@pytest.fixture(scope="module")
def ids(server: RunningServer, ca: KeyPair, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("identities")


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Caller:
    return Caller(cert=(server.tls / "admin.crt", server.tls / "admin.key"))


@pytest.fixture(scope="module")
def token(server: RunningServer) -> str:
    return (server.data_dir / "server" / "node-token").read_text().strip()


@pytest.fixture(scope="module")
def nodes(
    server: RunningServer, token: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Caller]:
    """Nodes a and b joined with the agent's join function, each with its Node object."""
    out = {}
    for name in ("a", "b"):
        box = tmp_path_factory.mktemp(f"box-{name}")
        creds = ensure_node_credentials(server.url, token, box, name)
        who = Caller(cert=(creds.cert_path, creds.key_path))
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
        assert call(server, who, "POST", "/api/v1/nodes", node).status == 201
        out[name] = who
    return out


# --- authentication ----------------------------------------------------------------------


def test_anonymous_gets_401_status_but_health_and_cacerts_are_open(
    server: RunningServer, token: str
) -> None:
    nobody = Caller()
    for path in ("/api/v1/nodes", "/apis", "/openapi/v2", "/api/v1/namespaces/default/pods"):
        answer = call(server, nobody, "GET", path)
        assert answer.status == 401, path
        assert answer.body["kind"] == "Status" and answer.body["reason"] == "Unauthorized"
    assert call(server, nobody, "POST", "/api/v1/namespaces", {}).status == 401
    for path in ("/livez", "/readyz", "/healthz", "/version"):
        assert call(server, nobody, "GET", path).status == 200, path
    cacerts = call(server, nobody, "GET", "/cacerts")
    assert cacerts.status == 200
    assert ca_hash(cacerts.body) == parse_token(token).ca_sha256


def test_the_server_issues_no_session_tickets(server: RunningServer, admin: Caller) -> None:
    """Its clients never resume, so the server skips making tickets (a third of the CPU of
    a handshake): after a whole request and answer, the client holds none."""
    import socket

    ctx = ssl.create_default_context(cafile=str(server.tls / "ca.crt"))
    assert admin.cert is not None
    ctx.load_cert_chain(*admin.cert)
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=15) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        assert tls.version() == "TLSv1.3"
        assert tls.session is None or not tls.session.has_ticket


def test_the_server_sends_its_certificate_alone_and_it_verifies(
    server: RunningServer, admin: Caller
) -> None:
    """No chain built per handshake (k3os.security.tlschain): OpenSSL's own client sees one
    certificate, and verifies it against the cluster CA its caller holds, client
    certificate given."""
    import subprocess

    assert admin.cert is not None
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-showcerts",
               "-CAfile", str(server.tls / "ca.crt"), "-cert", str(admin.cert[0]),
               "-key", str(admin.cert[1]), "-verify_return_error"]  # fmt: skip
    out = subprocess.run(
        command,
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("-----BEGIN CERTIFICATE-----") == 1
    assert "Verify return code: 0 (ok)" in out.stdout


def test_client_cert_from_another_ca_is_refused(server: RunningServer, tmp_path: Path) -> None:
    cert, key = make_ca("k3os-ca")  # same name as the real CA, different key
    other = KeyPair(cert, key, tmp_path / "ca.crt", tmp_path / "ca.key")
    stranger = write_identity(tmp_path, other, "system:admin", ["system:masters"])
    try:
        answer = call(server, stranger, "GET", "/api/v1/nodes")
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return  # refused during the handshake
    assert answer.status == 401


def test_expired_certificate_gets_401(server: RunningServer, ca: KeyPair, tmp_path: Path) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=800)
    old_admin = write_identity(tmp_path, ca, "old-admin", ["system:masters"], now=past)
    answer = call(server, old_admin, "GET", "/api/v1/nodes")
    assert answer.status == 401 and answer.body["reason"] == "Unauthorized"


def test_service_account_tokens_from_token_request(server: RunningServer, admin: Caller) -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci"}}
    assert (
        call(server, admin, "POST", "/api/v1/namespaces/default/serviceaccounts", sa).status == 201
    )
    token_path = "/api/v1/namespaces/default/serviceaccounts/ci/token"
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    minted = call(server, admin, "POST", token_path, request)
    assert minted.status == 201, minted.body
    good = Caller(token=minted.body["status"]["token"])
    answer = call(server, good, "GET", "/api/v1/namespaces/default/pods")
    assert answer.status == 403  # authenticated, but nothing is granted to it
    assert 'User "system:serviceaccount:default:ci" cannot list resource "pods"' in answer.message
    request["spec"] = {"audiences": ["vault"]}
    vault = call(server, admin, "POST", token_path, request)
    assert vault.status == 201
    wrong = Caller(token=vault.body["status"]["token"])
    assert call(server, wrong, "GET", "/api/v1/namespaces/default/pods").status == 401
    missing = call(
        server, admin, "POST", "/api/v1/namespaces/default/serviceaccounts/nope/token", {}
    )
    assert missing.status == 404
    short = {"spec": {"expirationSeconds": 60}}
    assert call(server, admin, "POST", token_path, short).status == 422
    # a token does not outlive its ServiceAccount
    assert (
        call(server, admin, "DELETE", "/api/v1/namespaces/default/serviceaccounts/ci").status == 200
    )
    eventually(
        lambda: call(server, good, "GET", "/api/v1/namespaces/default/pods").status == 401,
        "the deleted ServiceAccount's token is refused",
    )


def test_join_token_only_counts_on_the_join_endpoint(server: RunningServer, token: str) -> None:
    assert call(server, Caller(token=token), "GET", "/api/v1/nodes").status == 401
    answer = call(server, Caller(token=token), "POST", "/v1-k3os/node-certificate", {"x": 1})
    assert answer.status == 400 and "nodeName" in answer.message


# --- joining -----------------------------------------------------------------------------


def test_token_with_the_wrong_ca_hash_is_refused_before_anything_is_sent(
    server: RunningServer, token: str, tmp_path: Path
) -> None:
    secret = parse_token(token).secret
    wrong = f"K10{'0' * 64}::server:{secret}"
    with pytest.raises(CAMismatch, match="refusing to join"):
        ensure_node_credentials(server.url, wrong, tmp_path, "intruder")
    assert not (tmp_path / "agent" / "client.crt").exists()
    assert "intruder" not in server.log.read_text()  # no join request reached the server


def test_node_credentials_are_private_reused_and_renewed(
    server: RunningServer, token: str, tmp_path: Path, admin: Caller
) -> None:
    first = ensure_node_credentials(server.url, token, tmp_path, "edge-1")
    agent = tmp_path / "agent"
    for name in ("client.key", "client.crt", "ca.crt", "node-password"):
        assert (agent / name).stat().st_mode & 0o777 == 0o600, name
    assert first.not_after - dt.datetime.now(dt.UTC) > dt.timedelta(days=360)
    again = ensure_node_credentials(server.url, token, tmp_path, "edge-1")
    assert again == first and (agent / "client.crt").read_bytes() == first.cert_path.read_bytes()
    before = first.cert_path.read_bytes()
    soon = first.not_after - dt.timedelta(days=30)  # inside the renewal window
    renewed = ensure_node_credentials(server.url, token, tmp_path, "edge-1", now=soon)
    assert renewed.cert_path.read_bytes() != before
    who = Caller(cert=(renewed.cert_path, renewed.key_path))
    assert call(server, who, "GET", "/api/v1/nodes").status == 200
    secret = call(
        server, admin, "GET", "/api/v1/namespaces/kube-system/secrets/edge-1.node-password.k3os"
    )
    assert secret.status == 200 and secret.body["type"] == "k3os.io/node-password"


def test_a_second_box_with_the_same_name_is_refused(
    server: RunningServer, token: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ensure_node_credentials(server.url, token, tmp_path_factory.mktemp("first"), "twin")
    with pytest.raises(JoinRefused, match="already claimed by another box") as caught:
        ensure_node_credentials(server.url, token, tmp_path_factory.mktemp("second"), "twin")
    assert caught.value.status == 403


def test_a_bare_token_pins_nothing_unless_allowed(
    server: RunningServer, token: str, tmp_path: Path
) -> None:
    secret = parse_token(token).secret
    with pytest.raises(CAMismatch, match="bare secret"):
        ensure_node_credentials(server.url, secret, tmp_path, "bare")
    first = ensure_node_credentials(server.url, secret, tmp_path, "bare", allow_unpinned=True)
    # the CA is kept from now on: the bare secret alone renews against the pinned CA
    soon = first.not_after - dt.timedelta(days=10)
    renewed = ensure_node_credentials(server.url, secret, tmp_path, "bare", now=soon)
    assert renewed.cert_path.read_bytes() != b"" and renewed.not_after >= first.not_after


def test_malformed_token_and_unreachable_server(token: str, tmp_path: Path) -> None:
    with pytest.raises(JoinFailed, match="malformed token"):
        ensure_node_credentials("https://127.0.0.1:1", "K10nothex::x:y", tmp_path, "n")
    with pytest.raises(ServerUnreachable):
        ensure_node_credentials("https://127.0.0.1:1", token, tmp_path, "n")


def test_renewal_is_refused_once_another_box_owns_the_name(
    server: RunningServer, token: str, admin: Caller, tmp_path_factory: pytest.TempPathFactory
) -> None:
    box = tmp_path_factory.mktemp("moved")
    creds = ensure_node_credentials(server.url, token, box, "moved")
    secret = "/api/v1/namespaces/kube-system/secrets/moved.node-password.k3os"
    assert call(server, admin, "DELETE", secret).status == 200  # the operator frees the name
    ensure_node_credentials(server.url, token, tmp_path_factory.mktemp("new"), "moved")
    soon = creds.not_after - dt.timedelta(days=10)
    with pytest.raises(JoinRefused) as caught:  # own cert first, then the token: both refused
        ensure_node_credentials(server.url, token, box, "moved", now=soon)
    assert caught.value.status == 403
    expired = creds.not_after + dt.timedelta(days=1)
    with pytest.raises(JoinRefused):
        ensure_node_credentials(server.url, token, box, "moved", now=expired)


def test_a_node_cannot_get_a_certificate_for_another_name(
    server: RunningServer, nodes: dict[str, Caller]
) -> None:
    from k3os.security.join import make_node_csr

    body = {"nodeName": "b", "csr": make_node_csr("b")[1], "nodePassword": "x" * 20}
    answer = call(server, nodes["a"], "POST", "/v1-k3os/node-certificate", body)
    assert answer.status == 403 and 'node "a" cannot obtain a certificate for "b"' in answer.message


# --- nodes -------------------------------------------------------------------------------


def test_node_writes_its_own_node_status_and_lease(
    server: RunningServer, nodes: dict[str, Caller]
) -> None:
    a = nodes["a"]
    patch = {"metadata": {"labels": {"example.com/rack": "r1"}}}
    merge = "application/merge-patch+json"
    assert call(server, a, "PATCH", "/api/v1/nodes/a", patch, merge).status == 200
    status = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert call(server, a, "PATCH", "/api/v1/nodes/a/status", status, merge).status == 200
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "a"},
             "spec": {"holderIdentity": "a"}}  # fmt: skip
    assert call(server, a, "POST", LEASES, lease).status == 201
    lease_patch = {"spec": {"renewTime": "2026-01-01T00:00:00.000000Z"}}
    assert call(server, a, "PATCH", f"{LEASES}/a", lease_patch, merge).status == 200
    assert call(server, a, "GET", "/api/v1/nodes").status == 200


def test_node_a_cannot_touch_node_b_or_its_lease(
    server: RunningServer, nodes: dict[str, Caller], admin: Caller
) -> None:
    a, b = nodes["a"], nodes["b"]
    merge = "application/merge-patch+json"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "b"}}
    assert call(server, b, "POST", LEASES, lease).status == 201
    answer = call(
        server, a, "PATCH", "/api/v1/nodes/b", {"metadata": {"labels": {"x": "y"}}}, merge
    )
    assert answer.status == 403
    assert answer.message.startswith('nodes "b" is forbidden: User "system:node:a" cannot patch')
    assert call(server, a, "PATCH", "/api/v1/nodes/b/status", {"status": {}}, merge).status == 403
    assert call(server, a, "DELETE", "/api/v1/nodes/b").status == 403
    assert call(server, a, "PATCH", f"{LEASES}/b", {"spec": {}}, merge).status == 403
    assert call(server, a, "DELETE", f"{LEASES}/b").status == 403
    # NodeRestriction: a may create a Lease, but only its own.
    other = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "c"}}
    denied = call(server, a, "POST", LEASES, other)
    assert denied.status == 403 and "may only write its own Lease" in denied.message
    # ... nor label itself with a role the cluster owns
    role = {"metadata": {"labels": {"node-role.kubernetes.io/master": "true"}}}
    denied = call(server, a, "PATCH", "/api/v1/nodes/a", role, merge)
    assert denied.status == 403 and "not allowed to modify the labels" in denied.message
    assert call(server, admin, "PATCH", "/api/v1/nodes/a", role, merge).status == 200


def test_node_reads_only_the_secrets_its_pods_use(
    server: RunningServer, nodes: dict[str, Caller], admin: Caller
) -> None:
    secrets = "/api/v1/namespaces/default/secrets"
    for name in ("for-a", "for-b"):
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                  "stringData": {"k": "v"}}  # fmt: skip
        assert call(server, admin, "POST", secrets, secret).status == 201
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"nodeName": "a", "containers": [{"name": "c", "image": "busybox"}],
                 "volumes": [{"name": "s", "secret": {"secretName": "for-a"}}]},
    }  # fmt: skip
    assert call(server, admin, "POST", "/api/v1/namespaces/default/pods", pod).status == 201
    a = nodes["a"]
    eventually(
        lambda: call(server, a, "GET", f"{secrets}/for-a").status == 200,
        "node a reads the secret of its pod once the pod graph has the pod",
    )
    assert call(server, a, "GET", f"{secrets}/for-b").status == 403
    assert call(server, a, "GET", secrets).status == 403
    password = "/api/v1/namespaces/kube-system/secrets/b.node-password.k3os"
    assert call(server, a, "GET", password).status == 403
    assert call(server, nodes["b"], "GET", f"{secrets}/for-a").status == 403


# --- RBAC --------------------------------------------------------------------------------


def test_view_reads_but_cannot_write_and_cluster_admin_can(
    server: RunningServer, ca: KeyPair, ids: Path, admin: Caller
) -> None:
    vic = write_identity(ids, ca, "vic", ["dev"])
    cms = "/api/v1/namespaces/default/configmaps"
    denied = call(server, vic, "GET", cms)
    assert denied.status == 403
    assert denied.message == (
        'configmaps is forbidden: User "vic" cannot list resource "configmaps" in API group "" '
        'in the namespace "default"'
    )
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "vic-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "vic"}],
    }  # fmt: skip
    made = call(server, admin, "POST", f"{RBAC}/namespaces/default/rolebindings", binding)
    assert made.status == 201
    eventually(lambda: call(server, vic, "GET", cms).status == 200, "view binding takes effect")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}
    write = call(server, vic, "POST", cms, cm)
    assert write.status == 403
    assert write.message.startswith('configmaps is forbidden: User "vic" cannot create')
    assert call(server, vic, "GET", "/api/v1/namespaces/default/secrets").status == 403
    assert call(server, vic, "GET", "/api/v1/namespaces/kube-system/configmaps").status == 403
    assert call(server, admin, "POST", cms, cm).status == 201


def test_bootstrap_policy_is_created_and_edits_survive(
    server: RunningServer, admin: Caller
) -> None:
    roles = call(server, admin, "GET", f"{RBAC}/clusterroles").body["items"]
    names = {r["metadata"]["name"] for r in roles}
    assert {"cluster-admin", "admin", "edit", "view", "system:node", "system:basic-user"} <= names
    binding = call(server, admin, "GET", f"{RBAC}/clusterrolebindings/cluster-admin").body
    assert binding["subjects"][0]["name"] == "system:masters"


# --- kubectl -----------------------------------------------------------------------------


def test_kubectl_with_the_admin_kubeconfig_and_k3os_kubectl(
    server: RunningServer, kubectl: Path, nodes: dict[str, Caller], admin: Caller
) -> None:
    out = subprocess.run(
        [str(kubectl), "--kubeconfig", str(server.kubeconfig), "get", "nodes", "-o", "name"],
        check=True, capture_output=True, text=True, env={"PATH": os.environ.get("PATH", ""),
                                                           "HOME": str(server.data_dir)},
    )  # fmt: skip
    assert "node/a" in out.stdout.split()
    env = kubectl_env(server)
    del env["KUBECONFIG"]
    env["K3OS_DATA_DIR"] = str(server.data_dir)
    out = subprocess.run(
        [sys.executable, "-m", "k3os", "kubectl", "get", "nodes", "-o", "name"],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert "node/b" in out.stdout.split()
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}
    assert (
        call(server, admin, "POST", "/api/v1/namespaces/default/serviceaccounts", sa).status == 201
    )
    token = subprocess.run(
        [str(kubectl), "create", "token", "robot", "-n", "default"],
        capture_output=True, text=True, env=kubectl_env(server),
    )  # fmt: skip
    assert token.returncode == 0, token.stderr
    assert call(server, Caller(token=token.stdout.strip()), "GET", "/api/v1/nodes").status == 403


def _node_kubeconfig(server: RunningServer, who: Caller, path: Path) -> Path:
    assert who.cert is not None
    crt, key = who.cert
    cluster = {"server": server.url, "certificate-authority": str(server.tls / "ca.crt")}
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "n",
        "clusters": [{"name": "k", "cluster": cluster}],
        "users": [{"name": "n", "user": {"client-certificate": str(crt), "client-key": str(key)}}],
        "contexts": [{"name": "n", "context": {"cluster": "k", "user": "n"}}],
    }))  # fmt: skip
    return path


def test_kubectl_auth_can_i_and_whoami_answer_from_the_real_authorizers(
    server: RunningServer, kubectl: Path, nodes: dict[str, Caller], tmp_path: Path
) -> None:
    """What a node may do, asked the way an operator asks (`kubectl auth`): the answers come
    from the authorizers that guard every request, over real TLS with the node's own
    certificate."""

    def auth(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(kubectl), "--kubeconfig", str(kubeconfig), "auth", *args],
            capture_output=True, text=True, env={"HOME": str(tmp_path)},
        )  # fmt: skip

    node_a = _node_kubeconfig(server, nodes["a"], tmp_path / "a.kubeconfig")
    who = auth(node_a, "whoami", "-o", "json")
    assert who.returncode == 0, who.stderr
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == "system:node:a" and "system:nodes" in info["groups"]
    assert auth(node_a, "can-i", "patch", "nodes/a").stdout.strip() == "yes"
    refused = auth(node_a, "can-i", "patch", "nodes/b")
    assert refused.returncode == 1 and refused.stdout.startswith("no")
    assert "may write only its own Node" in refused.stdout
    assert auth(node_a, "can-i", "list", "secrets", "-A").stdout.startswith("no")
    listed = auth(node_a, "can-i", "--list")
    assert listed.returncode == 0, listed.stderr
    assert "selfsubjectaccessreviews.authorization.k8s.io" in listed.stdout
    assert "node authorizer does not support user rule resolution" in listed.stderr  # incomplete
    assert auth(server.kubeconfig, "can-i", "delete", "nodes").stdout.strip() == "yes"
    assert "*.*" in auth(server.kubeconfig, "can-i", "--list").stdout
    # An admin asks about someone else; a node may not.
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": "system:node:b", "groups": ["system:nodes"],
                       "resourceAttributes": {"verb": "patch", "resource": "nodes",
                                              "subresource": "status", "name": "b"}}}  # fmt: skip
    path = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    answer = call(server, Caller(cert=(server.tls / "admin.crt", server.tls / "admin.key")),
                  "POST", path, review)  # fmt: skip
    assert answer.status == 201 and answer.body["status"]["allowed"] is True
    assert call(server, nodes["a"], "POST", path, review).status == 403
    bad = {**review, "spec": {"user": "x"}}
    answer = call(server, Caller(cert=(server.tls / "admin.crt", server.tls / "admin.key")),
                  "POST", path, bad)  # fmt: skip
    assert answer.status == 422 and "exactly one of nonResourceAttributes" in answer.message


def test_kubectl_as_another_identity_only_with_the_right_to_impersonate(
    server: RunningServer, kubectl: Path, nodes: dict[str, Caller], tmp_path: Path
) -> None:
    def run(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(kubectl), "--kubeconfig", str(kubeconfig), *args],
            capture_output=True, text=True, env={"HOME": str(tmp_path)},
        )  # fmt: skip

    as_node = ["--as", "system:node:a", "--as-group", "system:nodes"]
    assert run(server.kubeconfig, "auth", "can-i", "patch", "nodes/a", *as_node).stdout == "yes\n"
    refused = run(server.kubeconfig, "auth", "can-i", "patch", "nodes/b", *as_node)
    assert refused.stdout.startswith("no") and "may write only its own Node" in refused.stdout
    jane = run(server.kubeconfig, "get", "secrets", "-A", "--as", "jane")
    assert jane.returncode != 0 and 'User "jane" cannot list resource "secrets"' in jane.stderr
    node_a = _node_kubeconfig(server, nodes["a"], tmp_path / "a.kubeconfig")
    escalate = run(node_a, "get", "secrets", "-A", "--as", "system:admin")
    assert escalate.returncode != 0
    assert 'User "system:node:a" cannot impersonate resource "users"' in escalate.stderr
    admin = Caller(cert=(server.tls / "admin.crt", server.tls / "admin.key"))
    alone = call(server, admin, "GET", "/api/v1/nodes", headers={"Impersonate-Group": "x"})
    assert alone.status == 400 and "Impersonate-User" in alone.message


def test_no_secret_reaches_the_log(
    server: RunningServer, token: str, nodes: dict[str, Caller]
) -> None:
    text = server.log.read_text()
    assert parse_token(token).secret not in text
    assert "PRIVATE KEY" not in text
    assert "nodePassword" not in text
