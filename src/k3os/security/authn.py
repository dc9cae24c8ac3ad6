"""Authentication: who is making a request, from the credentials it presented.

The API server builds `Credentials` for each request (`Credentials.from_request` takes the
path, the Authorization header and the peer certificate's DER) and calls
`Authenticator.authenticate`, which returns a `UserInfo` or None. None means
unauthenticated: the server answers 401 (anonymous access is off, as in k3s), except for
the paths `is_public_path` names when the operator allows it.

The usual chain is `union(ClientCertAuthenticator(...), ServiceAccountAuthenticator(...),
JoinTokenAuthenticator(...))`:
- client certificate: chain to a cluster CA, inside its validity at the injected clock,
  with the clientAuth usage; CN is the user, O values are groups;
- ServiceAccount JWT (see `serviceaccount.py`): user `system:serviceaccount:<ns>:<name>`,
  groups `system:serviceaccounts` and `system:serviceaccounts:<ns>`;
- the join token: only on the join endpoints (`JOIN_PATH_PREFIX`), user
  `system:bootstrap:<token user>` in group `system:bootstrappers`.
Every authenticated user also gets `system:authenticated`. Failures are logged at DEBUG
with the reason; tokens and keys are never logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from k3os.security.errors import TokenError
from k3os.security.pki import identity_of, utcnow
from k3os.security.serviceaccount import ServiceAccountClaims, TokenInvalid, TokenVerifier
from k3os.security.tokens import JoinToken, parse_token

__all__ = [
    "AUTHENTICATED",
    "BOOTSTRAPPERS",
    "JOIN_PATH_PREFIX",
    "PUBLIC_PATHS",
    "Authenticator",
    "ClientCertAuthenticator",
    "Clock",
    "Credentials",
    "JoinTokenAuthenticator",
    "ServiceAccountAuthenticator",
    "UserInfo",
    "is_public_path",
    "union",
]

log = logging.getLogger(__name__)

AUTHENTICATED = "system:authenticated"
BOOTSTRAPPERS = "system:bootstrappers"
SERVICE_ACCOUNTS = "system:serviceaccounts"
# The join endpoints: the only place a join token is a credential.
JOIN_PATH_PREFIX = "/v1-k3os/"
# May be served without credentials when the operator allows it (a server flag).
PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/version"})

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class UserInfo:
    """An authenticated identity (the shape of Kubernetes' user.Info)."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def in_group(self, group: str) -> bool:
        return group in self.groups


@dataclass(frozen=True)
class Credentials:
    """What one request presented: the peer certificate (DER) and a bearer token."""

    path: str = "/"
    client_certificate: bytes | None = None
    bearer_token: str | None = None

    def __repr__(self) -> str:  # never show the token
        token = "<hidden>" if self.bearer_token else None
        has_cert = self.client_certificate is not None
        return f"Credentials(path={self.path!r}, cert={has_cert}, bearer_token={token})"

    @classmethod
    def from_request(
        cls, path: str, authorization: str | None, peer_certificate_der: bytes | None
    ) -> Credentials:
        """From the `Authorization` header value ("Bearer <token>") and the TLS peer cert."""
        token = None
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                token = value.strip()
        return cls(path, peer_certificate_der or None, token)


class Authenticator(Protocol):
    def authenticate(self, creds: Credentials) -> UserInfo | None: ...


def _with_authenticated(user: UserInfo) -> UserInfo:
    if user.in_group(AUTHENTICATED):
        return user
    return UserInfo(user.name, user.uid, (*user.groups, AUTHENTICATED), user.extra)


class _Union:
    def __init__(self, authenticators: tuple[Authenticator, ...]) -> None:
        self._authenticators = authenticators

    def authenticate(self, creds: Credentials) -> UserInfo | None:
        for authenticator in self._authenticators:
            user = authenticator.authenticate(creds)
            if user is not None:
                return _with_authenticated(user)
        return None


def union(*authenticators: Authenticator) -> Authenticator:
    """The first authenticator that recognises the request wins; nobody means None (401)."""
    return _Union(authenticators)


def is_public_path(path: str) -> bool:
    return path in PUBLIC_PATHS


_SIGNED_CACHE = 4096


class ClientCertAuthenticator:
    """Client certificates issued by one of the cluster CAs (several during a rotation)."""

    def __init__(self, cas: Iterable[x509.Certificate], clock: Clock = utcnow) -> None:
        self._cas = list(cas)
        self._clock = clock
        # Whether a certificate (DER) is signed by one of our CAs: a node sends the same one
        # with every request, and checking the signature was the top cost of a fleet's
        # heartbeats. Validity times and usage are still checked every time.
        self._signed: dict[bytes, bool] = {}

    def authenticate(self, creds: Credentials) -> UserInfo | None:
        if creds.client_certificate is None:
            return None
        try:
            cert = x509.load_der_x509_certificate(creds.client_certificate)
        except ValueError:
            log.debug("client certificate is not DER")
            return None
        why = self._reject_reason(cert, creds.client_certificate)
        if why:
            log.debug("client certificate refused: %s", why)
            return None
        user, groups = identity_of(cert)
        if not user:
            log.debug("client certificate refused: no common name")
            return None
        return UserInfo(user, "", tuple(groups))

    def _reject_reason(self, cert: x509.Certificate, der: bytes) -> str:
        signed = self._signed.get(der)
        if signed is None:
            signed = any(_issued_by(cert, ca) for ca in self._cas)
            if len(self._signed) >= _SIGNED_CACHE:
                self._signed.clear()
            self._signed[der] = signed
        if not signed:
            return "not signed by the cluster CA"
        now = self._clock()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return f"outside its validity ({cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})"
        try:
            usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return "no extended key usage"
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
            return "not a client certificate"
        try:
            basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            return ""
        return "a CA certificate is not a client identity" if basic.ca else ""


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


ServiceAccountLookup = Callable[[ServiceAccountClaims], bool]


class ServiceAccountAuthenticator:
    """Bearer JWTs signed by the server's ServiceAccount key.

    `still_valid` (optional) lets the server refuse tokens of a ServiceAccount that was
    deleted or re-created (uid mismatch) — it is called with the verified claims.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        clock: Clock = utcnow,
        still_valid: ServiceAccountLookup | None = None,
    ) -> None:
        self._verifier = verifier
        self._clock = clock
        self._still_valid = still_valid

    def authenticate(self, creds: Credentials) -> UserInfo | None:
        token = creds.bearer_token
        if token is None or not TokenVerifier.looks_like_jwt(token):
            return None
        try:
            claims = self._verifier.verify(token, self._clock())
        except TokenInvalid as e:
            log.debug("service account token refused: %s", e)
            return None
        if self._still_valid is not None and not self._still_valid(claims):
            log.debug("service account token refused: %s no longer exists", claims.username)
            return None
        extra: dict[str, tuple[str, ...]] = {
            "authentication.kubernetes.io/credential-id": (f"JTI={claims.token_id}",)
        }
        if claims.pod_name:
            extra["authentication.kubernetes.io/pod-name"] = (claims.pod_name,)
            extra["authentication.kubernetes.io/pod-uid"] = (claims.pod_uid,)
        groups = (SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{claims.namespace}", AUTHENTICATED)
        return UserInfo(claims.username, claims.uid, groups, extra)


class JoinTokenAuthenticator:
    """The cluster join token as a bearer credential, on the join endpoints only.

    The bearer may be the full `K10<hash>::<user>:<secret>` (its CA hash must then be this
    cluster's) or the bare secret.
    """

    def __init__(self, tokens: Sequence[JoinToken], path_prefix: str = JOIN_PATH_PREFIX) -> None:
        self._tokens = list(tokens)
        self._prefix = path_prefix

    def authenticate(self, creds: Credentials) -> UserInfo | None:
        if creds.bearer_token is None or not creds.path.startswith(self._prefix):
            return None
        try:
            presented = parse_token(creds.bearer_token)
        except TokenError:
            return None
        for token in self._tokens:
            pins_ok = presented.ca_sha256 is None or presented.ca_sha256 == token.ca_sha256
            if pins_ok and token.matches_secret(presented.secret):
                return UserInfo(f"system:bootstrap:{token.user}", "", (BOOTSTRAPPERS,))
        log.debug("join token refused on %s", creds.path)
        return None
