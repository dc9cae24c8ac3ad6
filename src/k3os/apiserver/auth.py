"""The API's seams to the security room: credentials from the TLS connection, and the
authorizer used until RBAC is wired to the store.

Authentication and authorization themselves live in `k3os.security` (`authn`,
`authz`, `rbac`); this module adapts a request to them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from k3os.security.authn import Authenticator, Credentials, UserInfo
from k3os.security.authz import Attributes, Decision, Verdict

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


class RecentCertificates:
    """Reuses, for `ttl` seconds, what the authenticator said about a client certificate.

    Checking a certificate's signature costs more than serving a small request, and a
    client sends the same certificate on every request. Only certificate-only credentials
    are remembered (no bearer token), whose answer does not depend on the path; only
    successes are, so a refused certificate is checked again each time.
    """

    def __init__(
        self,
        ttl: float = 10.0,
        size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._seen: OrderedDict[bytes, tuple[float, UserInfo]] = OrderedDict()

    def authenticate(self, authn: Authenticator, creds: Credentials) -> UserInfo | None:
        der = creds.client_certificate
        if der is None or creds.bearer_token is not None:
            return authn.authenticate(creds)
        now = self.clock()
        hit = self._seen.get(der)
        if hit is not None and hit[0] > now:
            return hit[1]
        user = authn.authenticate(creds)
        if user is not None:
            self._seen[der] = (now + self.ttl, user)
            self._seen.move_to_end(der)
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
        return user
