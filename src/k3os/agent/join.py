"""Joining a cluster: the agent's node client certificate, obtained over HTTPS only.

`ensure_node_credentials(server, token, data_dir, node_name)`:
1. with a `K10<hash>` token, fetches `GET /cacerts` without credentials and compares its
   sha256 with the token's hash BEFORE sending anything secret; a mismatch raises
   `CAMismatch` and nothing else is sent. A bare secret pins nothing: it is refused unless
   the CA was pinned by an earlier join (stored in the data dir) or the caller passes
   `allow_unpinned=True` (trust on first use, logged as a warning);
2. makes a fresh P-256 key and a CSR on the box (the key never leaves it) and posts
   `{nodeName, csr, nodePassword}` to `/v1-k3os/node-certificate` over TLS pinned to that
   CA, authenticated by the join token — or, to renew, by the node's current certificate;
3. stores, mode 0600, under `<data-dir>/agent/`: `client.key`, `client.crt`, `ca.crt`
   and `node-password` (random, made once and kept forever: it is how the server tells
   this box apart from another claiming the same name).
A certificate that is valid and more than 90 days from expiry is reused without any
network call (after a restart too). Within 90 days it is renewed with itself; if the
server refuses that (expired), the join token is used again.

    JoinFailed
    ├── CAMismatch          the server's CA is not the one the token pins
    ├── JoinRefused         the server answered 4xx/5xx (status and its message)
    └── ServerUnreachable   no answer (connection, TLS or timeout)
Tokens, passwords and keys are never logged. The errors are defined in
`k3os.agent.joinproc`, which runs this join in a child process for the agent.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import secrets
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from k3os.agent.joinproc import CAMismatch, JoinFailed, JoinRefused, ServerUnreachable
from k3os.security.errors import TokenError
from k3os.security.files import write_private
from k3os.security.join import CA_ENDPOINT, JOIN_ENDPOINT, make_node_csr
from k3os.security.pki import RENEW_BEFORE, key_to_pem, utcnow
from k3os.security.tlschain import send_leaf_only
from k3os.security.tokens import JoinToken, ca_hash, parse_token

__all__ = [
    "CAMismatch",
    "JoinFailed",
    "JoinRefused",
    "NodeCredentials",
    "ServerUnreachable",
    "ensure_node_credentials",
    "fetch_pinned_ca",
    "renewal_due",
]

log = logging.getLogger(__name__)

TIMEOUT = 30.0


@dataclass(frozen=True)
class NodeCredentials:
    """Where the node's TLS identity lives; what a client needs to talk to the server."""

    node_name: str
    cert_path: Path
    key_path: Path
    ca_path: Path
    not_after: dt.datetime


@dataclass(frozen=True)
class _Paths:
    root: Path

    @property
    def key(self) -> Path:
        return self.root / "client.key"

    @property
    def cert(self) -> Path:
        return self.root / "client.crt"

    @property
    def ca(self) -> Path:
        return self.root / "ca.crt"

    @property
    def password(self) -> Path:
        return self.root / "node-password"


def renewal_due(creds: NodeCredentials, now: dt.datetime | None = None) -> bool:
    """Whether the certificate is within the renewal window (90 days) of its expiry."""
    return creds.not_after - (now or utcnow()) <= RENEW_BEFORE


def _read_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _stored(paths: _Paths, node_name: str, ca_pem: bytes) -> NodeCredentials | None:
    """The stored credentials if they belong to this node and this CA."""
    cert = _read_cert(paths.cert)
    if cert is None or not paths.key.exists():
        return None
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not cns or cns[0].value != f"system:node:{node_name}":
        return None
    ca = x509.load_pem_x509_certificate(ca_pem)
    if cert.issuer != ca.subject:
        return None
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return None
    return NodeCredentials(node_name, paths.cert, paths.key, paths.ca, cert.not_valid_after_utc)


def _node_password(paths: _Paths) -> str:
    if paths.password.exists():
        return paths.password.read_text().strip()
    password = secrets.token_hex(24)
    write_private(paths.password, (password + "\n").encode())
    return password


def _unverified_context() -> ssl.SSLContext:
    # Only for GET /cacerts, which carries nothing secret; the answer is checked by hash.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _pinned_context(
    ca_pem: bytes, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    if cert is not None and key is not None:
        ctx.load_cert_chain(cert, key)
        send_leaf_only(ctx)
    return ctx


def _request(
    url: str,
    ctx: ssl.SSLContext,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    req = urllib.request.Request(
        url, data=body, headers=headers or {}, method="POST" if body else "GET"
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=TIMEOUT) as resp:
            data: bytes = resp.read()
            return data
    except urllib.error.HTTPError as e:
        raise JoinRefused(e.code, _status_message(e.read())) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ServerUnreachable(f"{url}: {reason}") from None


def _status_message(raw: bytes) -> str:
    try:
        status: Any = json.loads(raw)
    except ValueError:
        return raw[:200].decode(errors="replace")
    return str(status.get("message", "")) if isinstance(status, dict) else ""


def fetch_pinned_ca(server: str, token: JoinToken) -> bytes:
    """The server's CA bundle, checked against the token's hash; CAMismatch otherwise."""
    if token.ca_sha256 is None:
        raise CAMismatch("the token does not pin a CA (no K10<hash> prefix)")
    ca_pem = _request(server.rstrip("/") + CA_ENDPOINT, _unverified_context())
    got = ca_hash(ca_pem)
    if not hmac.compare_digest(got, token.ca_sha256):
        raise CAMismatch(
            f"{server} presents a CA with sha256 {got}, but the token pins {token.ca_sha256}; "
            "refusing to join (wrong server, or a token from another cluster)"
        )
    return ca_pem


def _trusted_ca(server: str, token: JoinToken, paths: _Paths, allow_unpinned: bool) -> bytes:
    if token.ca_sha256 is not None:
        stored = paths.ca.read_bytes() if paths.ca.exists() else None
        if stored is not None and ca_hash(stored) == token.ca_sha256:
            return stored
        return fetch_pinned_ca(server, token)
    if paths.ca.exists():
        return paths.ca.read_bytes()
    if not allow_unpinned:
        raise CAMismatch(
            "the token is a bare secret and pins no CA; use the K10… token from the server's "
            "node-token file (or allow an unpinned first join explicitly)"
        )
    log.warning("joining %s without a pinned CA (bare token): trusting it on first use", server)
    return _request(server.rstrip("/") + CA_ENDPOINT, _unverified_context())


def _obtain(
    server: str,
    node_name: str,
    paths: _Paths,
    ca_pem: bytes,
    *,
    token: JoinToken | None,
    current: NodeCredentials | None,
) -> NodeCredentials:
    key, csr = make_node_csr(node_name)
    body = json.dumps(
        {"nodeName": node_name, "csr": csr, "nodePassword": _node_password(paths)}
    ).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
        ctx = _pinned_context(ca_pem)
    else:
        assert current is not None
        ctx = _pinned_context(ca_pem, current.cert_path, current.key_path)
    answer = json.loads(
        _request(server.rstrip("/") + JOIN_ENDPOINT, ctx, body=body, headers=headers)
    )
    cert_pem = str(answer["certificate"]).encode()
    cert = x509.load_pem_x509_certificate(cert_pem)
    if cert.public_key() != key.public_key():
        raise JoinFailed("the server signed a different key than this box's")
    write_private(paths.ca, ca_pem)
    write_private(paths.key, key_to_pem(key))
    write_private(paths.cert, cert.public_bytes(serialization.Encoding.PEM))
    log.info("obtained node client certificate", extra={"node": node_name})
    return NodeCredentials(node_name, paths.cert, paths.key, paths.ca, cert.not_valid_after_utc)


def ensure_node_credentials(
    server: str,
    token: str,
    data_dir: Path,
    node_name: str,
    *,
    allow_unpinned: bool = False,
    now: dt.datetime | None = None,
) -> NodeCredentials:
    """Valid node credentials in `<data_dir>/agent/`: reused, renewed or obtained."""
    try:
        parsed = parse_token(token)
    except TokenError as e:
        raise JoinFailed(str(e)) from e
    paths = _Paths(data_dir / "agent")
    ca_pem = _trusted_ca(server, parsed, paths, allow_unpinned)
    current = _stored(paths, node_name, ca_pem)
    now = now or utcnow()
    if current is not None and not renewal_due(current, now):
        return current
    if current is not None and current.not_after > now:
        try:
            return _obtain(server, node_name, paths, ca_pem, token=None, current=current)
        except JoinRefused as e:
            log.info(
                "renewing with the node certificate failed (%s); using the join token", e.status
            )
    return _obtain(server, node_name, paths, ca_pem, token=parsed, current=None)
