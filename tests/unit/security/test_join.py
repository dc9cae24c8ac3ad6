"""The join endpoint's server-side logic: request checks, node passwords, signing."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from k3os.security.authn import BOOTSTRAPPERS, ClientCertAuthenticator, Credentials, UserInfo
from k3os.security.join import (
    JoinForbidden,
    JoinInvalid,
    NodeCertificateRequest,
    check_caller,
    check_node_password,
    hash_password,
    issue_node_certificate,
    make_node_csr,
    parse_request,
    password_secret_name,
    verify_password,
)
from k3os.security.node import node_user
from k3os.security.pki import KeyPair, identity_of

from .conftest import NOW

PASSWORD = "0123456789abcdef0123456789abcdef"


def body(name: str = "edge-1", csr: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
    return {"nodeName": name, "csr": csr or make_node_csr(name)[1], "nodePassword": password}


def csr_with(key: Any, *attrs: x509.NameAttribute[Any]) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(list(attrs)))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_happy_path_first_claim_then_sign(cluster_ca: KeyPair) -> None:
    key, csr = make_node_csr("edge-1")
    request = parse_request(json.dumps(body(csr=csr)))
    assert "0123" not in repr(request)
    decision = check_node_password(None, request)
    secret = decision.secret_to_create
    assert secret is not None
    assert secret["metadata"] == {
        "name": "edge-1.node-password.k3os",
        "namespace": "kube-system",
        "labels": {"k3os.io/node": "edge-1"},
    }
    stored_hash = base64.b64decode(secret["data"]["hash"]).decode()
    assert PASSWORD not in stored_hash and stored_hash.startswith("$scrypt$")
    answer = issue_node_certificate(cluster_ca, request, now=NOW)
    cert = x509.load_pem_x509_certificate(answer["certificate"].encode())
    assert identity_of(cert) == ("system:node:edge-1", ["system:nodes"])
    assert cert.public_key() == key.public_key()
    assert answer["ca"] == cluster_ca.cert_pem.decode()
    assert answer["notAfter"].startswith("2026-12-31")
    # The certificate is a working credential for the authenticator.
    der = cert.public_bytes(serialization.Encoding.DER)
    auth = ClientCertAuthenticator([cluster_ca.cert], lambda: NOW + dt.timedelta(days=1))
    assert auth.authenticate(Credentials("/api", der)) == UserInfo(
        "system:node:edge-1", "", ("system:nodes",)
    )


def test_same_box_again_and_a_second_box_with_the_same_name() -> None:
    request = parse_request(body())
    first = check_node_password(None, request).secret_to_create
    assert check_node_password(first, request).secret_to_create is None  # renewal, restart
    intruder = parse_request(body(password="another-box-password-0000"))
    with pytest.raises(JoinForbidden, match="already claimed by another box") as err:
        check_node_password(first, intruder)
    assert err.value.status == 403
    assert password_secret_name("edge-1") in str(err.value)


@pytest.mark.parametrize(
    "stored",
    [
        {"data": {}},
        {"data": {"hash": "!!!"}},
        {"data": {"hash": base64.b64encode(b"\xff\xfe").decode()}},
        {"data": {"hash": base64.b64encode(b"$bcrypt$x").decode()}},
        {"data": {"hash": base64.b64encode(b"$scrypt$x$8$1$AA==$AA==").decode()}},
    ],
)
def test_unreadable_stored_hash_refuses(stored: dict[str, Any]) -> None:
    with pytest.raises(JoinForbidden):
        check_node_password(stored, parse_request(body()))


def test_password_hash_roundtrip() -> None:
    hashed = hash_password("pw-1234567890", salt=b"0" * 16)
    assert hashed == hash_password("pw-1234567890", salt=b"0" * 16)
    assert verify_password("pw-1234567890", hashed)
    assert not verify_password("pw-1234567891", hashed)
    assert hash_password("pw-1234567890") != hashed  # random salt


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "body|Invalid JSON"),
        ({"nodeName": "edge-1", "csr": "x"}, "nodePassword"),
        (body(password="short"), "nodePassword"),
        (body() | {"extra": 1}, "extra"),
        (body(name="Edge_1", csr="x"), "RFC 1123"),
        (body(name="edge-1.", csr="x"), "RFC 1123"),
        (body(csr="-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END"), "not a PEM CSR"),
        (body(csr=make_node_csr("edge-2")[1]), "CN must be system:node:edge-1"),
    ],
)
def test_malformed_requests(payload: Any, message: str) -> None:
    with pytest.raises(JoinInvalid, match=message) as err:
        parse_request(payload)
    assert err.value.status == 400


def test_csr_key_and_subject_checks() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(JoinInvalid, match="P-256"):
        parse_request(body(csr=csr_with(p384)))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(JoinInvalid, match="P-256"):
        parse_request(body(csr=csr_with(rsa_key)))
    key = ec.generate_private_key(ec.SECP256R1())
    wrong_org = csr_with(
        key,
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
        x509.NameAttribute(NameOID.COMMON_NAME, "system:node:edge-1"),
    )
    with pytest.raises(JoinInvalid, match="O must be system:nodes"):
        parse_request(body(csr=wrong_org))
    # An empty subject is fine: the server decides the name.
    assert parse_request(body(csr=csr_with(key))).node_name == "edge-1"


def test_csr_with_a_broken_signature() -> None:
    _, good = make_node_csr("edge-1")
    der = bytearray(x509.load_pem_x509_csr(good.encode()).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # inside the signature
    broken = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(JoinInvalid, match="signature"):
        parse_request(body(csr=broken))


@pytest.mark.parametrize(
    ("user", "ok"),
    [
        (UserInfo("system:bootstrap:server", groups=(BOOTSTRAPPERS,)), True),
        (node_user("edge-1"), True),
        (node_user("edge-2"), False),
        (UserInfo("system:admin", groups=("system:masters",)), False),
    ],
)
def test_who_may_ask(user: UserInfo, ok: bool) -> None:
    request = parse_request(body())
    if ok:
        check_caller(user, request)
    else:
        with pytest.raises(JoinForbidden):
            check_caller(user, request)


def test_request_model_accepts_python_names() -> None:
    request = NodeCertificateRequest(node_name="n", csr="x", node_password=PASSWORD)
    assert request.node_name == "n"
