"""The node-certificate join endpoint, as pure server-side logic.

Contract (`POST /v1-k3os/node-certificate`, JSON, see docs/security.md):
- credentials: the join token as `Authorization: Bearer K10…` (authenticated by
  `JoinTokenAuthenticator` as a member of `system:bootstrappers`), or, to renew, the node's
  current client certificate (`system:node:<name>`, which may only renew its own name);
- body: `{"nodeName": "...", "csr": "<PEM PKCS#10>", "nodePassword": "..."}` — the key is
  made on the box and never leaves it; the CSR must be self-signed by an EC P-256 key and
  name `CN=system:node:<nodeName>, O=system:nodes` (or leave the subject empty);
- the server keeps the node password's hash in the Secret `<nodeName>.node-password.k3os`
  in `kube-system` (`node_password_secret`). The first box to claim a name sets it; a box
  presenting a different password for the same name is refused (403), so two boxes with
  one name are told apart, as k3s does;
- answer 200: `{"certificate": PEM, "ca": PEM, "notAfter": RFC 3339}`.

The server glue: `request = parse_request(body)`; `check_caller(user, request)`;
`decision = check_node_password(stored_secret, request)`; store `decision.secret_to_create`
with create-if-absent semantics (on a conflict re-read and check again); then
`issue_node_certificate(ca, request)`. Errors are `JoinError` subclasses carrying the
HTTP status to answer with.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from k3os.security.authn import BOOTSTRAPPERS, UserInfo
from k3os.security.errors import SecurityError
from k3os.security.node import NODE_USER_PREFIX, NODES_GROUP, node_name_of
from k3os.security.pki import KeyPair, issue, new_key

__all__ = [
    "CA_ENDPOINT",
    "JOIN_ENDPOINT",
    "PASSWORD_NAMESPACE",
    "JoinError",
    "JoinForbidden",
    "JoinInvalid",
    "NodeCertificateRequest",
    "PasswordDecision",
    "check_caller",
    "check_node_password",
    "hash_password",
    "issue_node_certificate",
    "make_node_csr",
    "node_password_secret",
    "parse_request",
    "password_secret_name",
    "verify_password",
]

JOIN_ENDPOINT = "/v1-k3os/node-certificate"
# Served without credentials: the agent fetches the CA here and checks it against the
# token's hash before it sends anything secret.
CA_ENDPOINT = "/cacerts"
PASSWORD_NAMESPACE = "kube-system"
PASSWORD_KEY = "hash"
# RFC 1123 subdomain, as Kubernetes requires of Node names.
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# scrypt cost: ~16 MiB and tens of milliseconds per join, fine for a join and a renewal.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class JoinError(SecurityError):
    """A join request that is refused; `status` is the HTTP code to answer with."""

    status = 400


class JoinInvalid(JoinError):
    """The request body is malformed (400)."""


class JoinForbidden(JoinError):
    """The caller may not have this node's certificate (403)."""

    status = 403


class NodeCertificateRequest(BaseModel):
    """The JSON body of the join endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    node_name: str = Field(alias="nodeName", min_length=1, max_length=253)
    csr: str = Field(min_length=1)
    node_password: str = Field(alias="nodePassword", min_length=16, max_length=512)

    def __repr__(self) -> str:  # the password never reaches a log
        return f"NodeCertificateRequest(node_name={self.node_name!r})"


def parse_request(body: bytes | str | Mapping[str, Any]) -> NodeCertificateRequest:
    """Validate the body; raise JoinInvalid naming the field and what was expected."""
    try:
        if isinstance(body, Mapping):
            request = NodeCertificateRequest.model_validate(body)
        else:
            request = NodeCertificateRequest.model_validate_json(body)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise JoinInvalid(f"invalid node-certificate request: {where}: {first['msg']}") from e
    if not _NODE_NAME.match(request.node_name):
        raise JoinInvalid(
            f"invalid node-certificate request: nodeName: {request.node_name!r} is not a "
            "lower-case RFC 1123 name"
        )
    _load_csr(request)  # fail early on a bad CSR
    return request


def _load_csr(request: NodeCertificateRequest) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(request.csr.encode())
    except ValueError as e:
        raise JoinInvalid("invalid node-certificate request: csr: not a PEM CSR") from e
    if not csr.is_signature_valid:
        raise JoinInvalid("invalid node-certificate request: csr: signature does not verify")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise JoinInvalid("invalid node-certificate request: csr: expected an EC P-256 key")
    cns = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    want = f"{NODE_USER_PREFIX}{request.node_name}"
    if cns and cns != [want]:
        raise JoinInvalid(f"invalid node-certificate request: csr: subject CN must be {want}")
    if orgs and orgs != [NODES_GROUP]:
        raise JoinInvalid(f"invalid node-certificate request: csr: subject O must be {NODES_GROUP}")
    return csr


def make_node_csr(node_name: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """The agent's side: a fresh P-256 key and a PEM CSR naming the node."""
    key = new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{NODE_USER_PREFIX}{node_name}"),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


def check_caller(user: UserInfo, request: NodeCertificateRequest) -> None:
    """A join-token holder may ask for any name; a node only for its own."""
    node = node_name_of(user)
    if node is not None:
        if node != request.node_name:
            raise JoinForbidden(
                f'node "{node}" cannot obtain a certificate for "{request.node_name}"'
            )
        return
    if not user.in_group(BOOTSTRAPPERS):
        raise JoinForbidden(f'user "{user.name}" cannot obtain node certificates')


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`$scrypt$N$r$p$<salt b64>$<hash b64>` — the parameters travel with the hash."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return (
        f"$scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"
    )


def verify_password(password: str, stored: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 7 or parts[1] != "scrypt":
        return False
    try:
        n, r, p = int(parts[2]), int(parts[3]), int(parts[4])
        salt, want = base64.b64decode(parts[5]), base64.b64decode(parts[6])
        got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(want))
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


def password_secret_name(node_name: str) -> str:
    return f"{node_name}.node-password.k3os"


def node_password_secret(node_name: str, password: str) -> dict[str, Any]:
    """The Secret that records which box owns a node name (only the hash is stored)."""
    hashed = base64.b64encode(hash_password(password).encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "k3os.io/node-password",
        "metadata": {
            "name": password_secret_name(node_name),
            "namespace": PASSWORD_NAMESPACE,
            "labels": {"k3os.io/node": node_name},
        },
        "data": {PASSWORD_KEY: hashed},
    }


@dataclass(frozen=True)
class PasswordDecision:
    """The name is this box's; store `secret_to_create` first if it is not None."""

    secret_to_create: dict[str, Any] | None


def check_node_password(
    stored: Mapping[str, Any] | None, request: NodeCertificateRequest
) -> PasswordDecision:
    """First claim records the password; later claims must present the same one."""
    if stored is None:
        return PasswordDecision(node_password_secret(request.node_name, request.node_password))
    encoded = (stored.get("data") or {}).get(PASSWORD_KEY, "")
    try:
        hashed = base64.b64decode(encoded).decode()
    except (ValueError, UnicodeDecodeError):
        hashed = ""
    if not verify_password(request.node_password, hashed):
        raise JoinForbidden(
            f'node name "{request.node_name}" is already claimed by another box '
            "(node password mismatch); pick another name or delete the Secret "
            f"{PASSWORD_NAMESPACE}/{password_secret_name(request.node_name)}"
        )
    return PasswordDecision(None)


def issue_node_certificate(
    ca: KeyPair, request: NodeCertificateRequest, now: dt.datetime | None = None
) -> dict[str, str]:
    """Sign the CSR's key as `system:node:<name>` in `system:nodes`; the 200 response body."""
    key = _load_csr(request).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)  # _load_csr checked it
    cert, _ = issue(
        ca,
        f"{NODE_USER_PREFIX}{request.node_name}",
        organizations=[NODES_GROUP],
        client=True,
        public_key=key,
        now=now,
    )
    return {
        "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "ca": ca.cert_pem.decode(),
        "notAfter": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
