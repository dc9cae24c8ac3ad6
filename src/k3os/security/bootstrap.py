"""What a server makes on first start and checks on every start: CA, certificates, token.

Layout under `<data-dir>`:
    server/tls/ca.crt, ca.key            cluster CA (10 years)
    server/tls/serving.crt, serving.key  the API's serving certificate (1 year)
    server/tls/admin.crt, admin.key      system:admin in system:masters (1 year)
    server/tls/controller.crt, .key      system:k3os-controller (the in-process controllers)
    server/tls/service-account.key       signs ServiceAccount tokens (EC P-256)
    server/node-token                    K10<sha256 of ca.crt>::server:<secret>
    kubeconfig.yaml                      the admin kubeconfig
Keys, the token and the kubeconfig are mode 0600.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from k3os.security.errors import PKIError, TokenError
from k3os.security.files import write_private
from k3os.security.kubeconfig import render_kubeconfig, write_kubeconfig
from k3os.security.pki import KeyPair, ensure_ca, ensure_leaf, load_pair
from k3os.security.serviceaccount import ensure_signing_key
from k3os.security.tokens import JoinToken, ca_hash, new_secret, parse_token

log = logging.getLogger(__name__)

DEFAULT_NAMES = (
    "localhost",
    "127.0.0.1",
    "::1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class ServerPKI:
    data_dir: Path
    ca: KeyPair
    serving: KeyPair
    admin: KeyPair
    token: JoinToken
    service_account_key: ec.EllipticCurvePrivateKey

    @property
    def kubeconfig_path(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"

    @property
    def token_path(self) -> Path:
        return self.data_dir / "server" / "node-token"

    def write_admin_kubeconfig(self, server_url: str) -> Path:
        text = render_kubeconfig(
            server_url, self.ca.cert_pem, cert_pem=self.admin.cert_pem, key_pem=self.admin.key_pem
        )
        write_kubeconfig(self.kubeconfig_path, text)
        return self.kubeconfig_path


def serving_names(bind_address: str, tls_sans: Iterable[str] = ()) -> set[str]:
    names = set(DEFAULT_NAMES) | set(tls_sans) | {socket.gethostname()}
    if bind_address not in ("0.0.0.0", "::", ""):
        names.add(bind_address)
    return names


def _load_or_make_token(path: Path, ca_pem: bytes, secret: str | None) -> JoinToken:
    pinned = ca_hash(ca_pem)
    if secret is not None:
        given = parse_token(secret)
        if given.ca_sha256 is not None and given.ca_sha256 != pinned:
            raise TokenError("--token pins a different CA than this server's")
        token = JoinToken(given.secret, "server", pinned)
    elif path.exists():
        token = parse_token(path.read_text())
        if token.ca_sha256 != pinned:
            token = JoinToken(token.secret, "server", pinned)
    else:
        token = JoinToken(new_secret(), "server", pinned)
    if not path.exists() or path.read_text().strip() != str(token):
        write_private(path, (str(token) + "\n").encode())
    return token


def ensure_server_pki(
    data_dir: Path,
    *,
    bind_address: str = "127.0.0.1",
    tls_sans: Iterable[str] = (),
    token: str | None = None,
    now: dt.datetime | None = None,
) -> ServerPKI:
    """Make or load everything a server needs to serve TLS and admit nodes."""
    tls = data_dir / "server" / "tls"
    ca = ensure_ca(tls, "k3os-ca", now)
    serving, renewed = ensure_leaf(
        ca,
        tls,
        "serving",
        "k3os-apiserver",
        server_names=serving_names(bind_address, tls_sans),
        now=now,
    )
    if renewed:
        log.info("issued serving certificate", extra={"expires": serving.cert.not_valid_after_utc})
    admin, renewed = ensure_leaf(
        ca, tls, "admin", "system:admin", organizations=["system:masters"], client=True, now=now
    )
    if renewed:
        log.info("issued admin client certificate")
    join = _load_or_make_token(data_dir / "server" / "node-token", ca.cert_pem, token)
    sa_key = ensure_signing_key(tls / "service-account.key")
    return ServerPKI(data_dir, ca, serving, admin, join, sa_key)


def load_server_pki(data_dir: Path) -> ServerPKI:
    """What `ensure_server_pki` made, loaded as it is: nothing made, renewed or rewritten
    (for an API worker, beside the main process that made it)."""
    tls = data_dir / "server" / "tls"
    names = ("ca", "serving", "admin")
    ca, serving, admin = (load_pair(tls / f"{n}.crt", tls / f"{n}.key") for n in names)
    token_path = data_dir / "server" / "node-token"
    sa_path = tls / "service-account.key"
    try:
        token = parse_token(token_path.read_text())
    except OSError as e:
        raise PKIError(f"{token_path}: cannot read the join token: {e}") from e
    if not sa_path.exists():
        raise PKIError(f"{sa_path}: no service-account key (the server makes it first)")
    return ServerPKI(data_dir, ca, serving, admin, token, ensure_signing_key(sa_path))


CONTROLLER_USER = "system:k3os-controller"


def ensure_controller_cert(pki: ServerPKI, now: dt.datetime | None = None) -> KeyPair:
    """The client certificate the server's own controllers use to call its API over HTTPS
    (in system:masters for now; a narrower role can replace it)."""
    pair, renewed = ensure_leaf(
        pki.ca,
        pki.data_dir / "server" / "tls",
        "controller",
        CONTROLLER_USER,
        organizations=["system:masters"],
        client=True,
        now=now,
    )
    if renewed:
        log.info("issued controller client certificate")
    return pair
