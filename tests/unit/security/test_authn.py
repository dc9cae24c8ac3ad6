"""Authentication matrix: each way a request can present itself, and who it turns out to be."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from k3os.security.authn import (
    AUTHENTICATED,
    BOOTSTRAPPERS,
    Authenticator,
    ClientCertAuthenticator,
    Credentials,
    JoinTokenAuthenticator,
    ServiceAccountAuthenticator,
    UserInfo,
    is_public_path,
    union,
)
from k3os.security.pki import KeyPair, issue, new_key
from k3os.security.serviceaccount import TokenSigner, TokenVerifier
from k3os.security.tokens import JoinToken, ca_hash

from .conftest import NOW


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def client_cert(ca: KeyPair, cn: str, orgs: list[str], **kw: object) -> bytes:
    cert, _ = issue(ca, cn, organizations=orgs, client=True, now=NOW, **kw)  # type: ignore[arg-type]
    return der(cert)


def clock(at: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: at


@pytest.fixture(scope="module")
def sa_signer() -> TokenSigner:
    return TokenSigner(new_key())


@pytest.fixture
def chain(cluster_ca: KeyPair, sa_signer: TokenSigner) -> Callable[..., Authenticator]:
    token = JoinToken("join-secret-0123", "server", ca_hash(cluster_ca.cert_pem))

    def build(at: dt.datetime = NOW) -> Authenticator:
        verifier = TokenVerifier([sa_signer.public_key])
        return union(
            ClientCertAuthenticator([cluster_ca.cert], clock(at)),
            ServiceAccountAuthenticator(verifier, clock(at)),
            JoinTokenAuthenticator([token]),
        )

    return build


def run(chain: Authenticator, creds: Credentials) -> UserInfo | None:
    return chain.authenticate(creds)


def test_anonymous_is_unauthenticated(chain: Callable[..., Authenticator]) -> None:
    assert run(chain(), Credentials("/api/v1/pods")) is None


def test_admin_cert_is_user_and_groups(
    chain: Callable[..., Authenticator], cluster_ca: KeyPair
) -> None:
    cert = client_cert(cluster_ca, "system:admin", ["system:masters"])
    user = run(chain(), Credentials("/api", cert))
    assert user == UserInfo("system:admin", "", ("system:masters", AUTHENTICATED))


@pytest.mark.parametrize(
    ("case", "at"),
    [
        ("valid at issue", NOW),
        ("valid in 364 days", NOW + dt.timedelta(days=364)),
        ("expired after a year", NOW + dt.timedelta(days=366)),
        ("not yet valid", NOW - dt.timedelta(hours=1)),
    ],
)
def test_cert_validity_window(
    chain: Callable[..., Authenticator], cluster_ca: KeyPair, case: str, at: dt.datetime
) -> None:
    cert = client_cert(cluster_ca, "jane", ["dev"])
    user = run(chain(at), Credentials("/api", cert))
    assert (user is not None) is case.startswith("valid"), case


def test_cert_from_another_ca_is_unauthenticated(
    chain: Callable[..., Authenticator], other_ca: KeyPair
) -> None:
    # Same issuer name, different key: only the signature tells them apart.
    cert = client_cert(other_ca, "system:admin", ["system:masters"])
    assert run(chain(), Credentials("/api", cert)) is None


def test_serving_only_and_ca_certs_are_not_client_identities(
    chain: Callable[..., Authenticator], cluster_ca: KeyPair
) -> None:
    serving, _ = issue(cluster_ca, "server", server_names=["localhost"], now=NOW)
    assert run(chain(), Credentials("/api", der(serving))) is None
    assert run(chain(), Credentials("/api", der(cluster_ca.cert))) is None
    assert run(chain(), Credentials("/api", b"not der")) is None
    orgs_only = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters")])
    nameless = hand_made(cluster_ca, orgs_only, client_usage=True)
    assert run(chain(), Credentials("/api", der(nameless))) is None


def hand_made(ca: KeyPair, subject: x509.Name, *, client_usage: bool) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(new_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
    )
    if client_usage:
        usage = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
        builder = builder.add_extension(usage, critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def test_cert_without_eku_or_basic_constraints(cluster_ca: KeyPair) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bare")])
    auth = ClientCertAuthenticator([cluster_ca.cert], clock(NOW))
    no_eku = hand_made(cluster_ca, name, client_usage=False)
    assert auth.authenticate(Credentials("/", der(no_eku))) is None
    # clientAuth but no basicConstraints at all: a plain leaf, accepted.
    plain = hand_made(cluster_ca, name, client_usage=True)
    assert auth.authenticate(Credentials("/", der(plain))) == UserInfo("bare")


def test_ca_rotation_accepts_both_cas(cluster_ca: KeyPair, other_ca: KeyPair) -> None:
    auth = ClientCertAuthenticator([cluster_ca.cert, other_ca.cert], clock(NOW))
    for ca in (cluster_ca, other_ca):
        assert auth.authenticate(Credentials("/", client_cert(ca, "u", []))) is not None


def test_sa_token_user_and_groups(
    chain: Callable[..., Authenticator], sa_signer: TokenSigner
) -> None:
    token = sa_signer.issue("apps", "builder", "uid-1", now=NOW)
    user = run(chain(), Credentials("/api", bearer_token=token))
    assert user is not None
    assert user.name == "system:serviceaccount:apps:builder"
    assert user.uid == "uid-1"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:apps", AUTHENTICATED)
    assert user.extra["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")


@pytest.mark.parametrize(
    ("case", "audiences", "issued", "at", "ok"),
    [
        ("default audiences", None, NOW, NOW, True),
        ("wrong audience", ["vault"], NOW, NOW, False),
        ("one matching audience", ["vault", "k3os"], NOW, NOW, True),
        ("expired", None, NOW, NOW + dt.timedelta(hours=2), False),
        ("slightly early clock", None, NOW + dt.timedelta(seconds=30), NOW, True),
        ("issued far in the future", None, NOW + dt.timedelta(hours=1), NOW, False),
    ],
)
def test_sa_token_matrix(
    chain: Callable[..., Authenticator],
    sa_signer: TokenSigner,
    case: str,
    audiences: list[str] | None,
    issued: dt.datetime,
    at: dt.datetime,
    ok: bool,
) -> None:
    kw = {"audiences": audiences} if audiences else {}
    token = sa_signer.issue("default", "sa", "u", now=issued, **kw)  # type: ignore[arg-type]
    assert (run(chain(at), Credentials("/api", bearer_token=token)) is not None) is ok, case


def test_sa_token_signed_by_another_key_is_refused(chain: Callable[..., Authenticator]) -> None:
    token = TokenSigner(new_key()).issue("default", "sa", "u", now=NOW)
    assert run(chain(), Credentials("/api", bearer_token=token)) is None


def test_sa_lookup_refuses_deleted_accounts(sa_signer: TokenSigner) -> None:
    verifier = TokenVerifier([sa_signer.public_key])
    alive = {("apps", "builder", "uid-1")}
    auth = ServiceAccountAuthenticator(
        verifier, clock(NOW), lambda c: (c.namespace, c.name, c.uid) in alive
    )
    good = sa_signer.issue("apps", "builder", "uid-1", now=NOW)
    recreated = sa_signer.issue("apps", "builder", "uid-0", now=NOW)
    assert auth.authenticate(Credentials("/", bearer_token=good)) is not None
    assert auth.authenticate(Credentials("/", bearer_token=recreated)) is None


def test_pod_bound_token_carries_pod_extra(sa_signer: TokenSigner) -> None:
    verifier = TokenVerifier([sa_signer.public_key])
    auth = ServiceAccountAuthenticator(verifier, clock(NOW))
    token = sa_signer.issue("a", "b", "u", pod=("web-0", "pod-uid"), now=NOW)
    user = auth.authenticate(Credentials("/", bearer_token=token))
    assert user is not None
    assert user.extra["authentication.kubernetes.io/pod-name"] == ("web-0",)


@pytest.mark.parametrize(
    ("case", "path", "bearer", "ok"),
    [
        ("full token on join path", "/v1-k3os/node-certificate", "FULL", True),
        ("bare secret on join path", "/v1-k3os/node-certificate", "join-secret-0123", True),
        ("join token on the API", "/api/v1/nodes", "FULL", False),
        ("wrong secret", "/v1-k3os/node-certificate", "wrong-secret-000", False),
        ("token pinning another CA", "/v1-k3os/node-certificate", "OTHER", False),
        ("garbage", "/v1-k3os/node-certificate", "x", False),
    ],
)
def test_join_token_matrix(
    chain: Callable[..., Authenticator],
    cluster_ca: KeyPair,
    case: str,
    path: str,
    bearer: str,
    ok: bool,
) -> None:
    full = f"K10{ca_hash(cluster_ca.cert_pem)}::server:join-secret-0123"
    other = f"K10{'0' * 64}::server:join-secret-0123"
    bearer = {"FULL": full, "OTHER": other}.get(bearer, bearer)
    user = run(chain(), Credentials(path, bearer_token=bearer))
    assert (user is not None) is ok, case
    if user is not None:
        assert user.name == "system:bootstrap:server"
        assert user.groups == (BOOTSTRAPPERS, AUTHENTICATED)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer   tok  ", "tok"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer ", None),
        (None, None),
    ],
)
def test_credentials_from_request(header: str | None, token: str | None) -> None:
    creds = Credentials.from_request("/x", header, b"")
    assert creds.bearer_token == token
    assert creds.client_certificate is None
    assert "abc" not in repr(creds)


def test_public_paths() -> None:
    assert is_public_path("/healthz") and is_public_path("/version")
    assert not is_public_path("/api") and not is_public_path("/healthz/etcd")
