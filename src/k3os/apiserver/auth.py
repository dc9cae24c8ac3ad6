"""The API's seams to the security room: credentials from the TLS connection, and the
authorizer used until RBAC is wired to the store.

Authentication and authorization themselves live in `k3os.security` (`authn`,
`authz`, `rbac`); this module adapts a request to them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from cryptography import x509

from k3os.security.authn import Authenticator, Credentials, UserInfo
from k3os.security.authz import ALL_RULES, Attributes, Decision, Rules, Verdict

__all__ = ["PEER_CERT_STATE_KEY", "MastersAuthorizer", "RecentCertificates"]

# Where the HTTP protocol puts the verified client certificate (DER) in the ASGI scope's
# "state" dict (see server.py).
PEER_CERT_STATE_KEY = "k3os.peer_cert_der"


class MastersAuthorizer:
    """Allows `system:masters` (what the admin kubeconfig carries); no opinion otherwise."""

    def authorize(self, attrs: Attributes) -> Decision:
        if attrs.user.in_group("system:masters"):
            return Decision(Verdict.ALLOW)
        return Decision(Verdict.NO_OPINION, "no RBAC policy matched")

    def rules_for(self, user: UserInfo, namespace: str) -> Rules:
        return ALL_RULES if user.in_group("system:masters") else Rules()


class RecentCertificates:
    """Reuses, for `ttl` seconds, what the authenticator said about a client certificate.

    Checking a certificate (parsing it, its validity, its usage, its identity) costs more
    than serving a small request, and a client sends the same certificate on every request.
    Only certificate-only credentials are remembered (no bearer token), whose answer does
    not depend on the path; only successes are, so a refused certificate is checked again
    each time; and never past the certificate's own expiry. The ttl is longer than a
    node's 10 s Lease interval and the size above a fleet of a thousand nodes, or every
    heartbeat would miss.
    """

    def __init__(
        self,
        ttl: float = 60.0,
        size: int = 8192,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self.wall = wall
        self._seen: OrderedDict[bytes, tuple[float, float, UserInfo]] = OrderedDict()

    def authenticate(self, authn: Authenticator, creds: Credentials) -> UserInfo | None:
        der = creds.client_certificate
        if der is None or creds.bearer_token is not None:
            return authn.authenticate(creds)
        now = self.clock()
        hit = self._seen.get(der)
        if hit is not None and hit[0] > now and self.wall() < hit[1]:
            return hit[2]
        user = authn.authenticate(creds)
        if user is not None:
            self._seen[der] = (now + self.ttl, _expiry(der), user)
            self._seen.move_to_end(der)
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
        return user


def _expiry(der: bytes) -> float:
    """The certificate's notAfter (Unix time); unbounded when it cannot be read."""
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:
        return math.inf
