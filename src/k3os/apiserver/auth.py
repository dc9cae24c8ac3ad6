"""The API's seams to the security room: credentials from the TLS connection, and the
authorizer used until RBAC is wired to the store.

Authentication and authorization themselves live in `k3os.security` (`authn`,
`authz`, `rbac`); this module adapts a request to them.
"""

from __future__ import annotations

from k3os.security.authz import Attributes, Decision, Verdict

__all__ = ["PEER_CERT_STATE_KEY", "MastersAuthorizer"]

# Where the HTTP protocol puts the verified client certificate (DER) in the ASGI scope's
# "state" dict (see server.py).
PEER_CERT_STATE_KEY = "k3os.peer_cert_der"


class MastersAuthorizer:
    """Allows `system:masters` (what the admin kubeconfig carries); no opinion otherwise."""

    def authorize(self, attrs: Attributes) -> Decision:
        if attrs.user.in_group("system:masters"):
            return Decision(Verdict.ALLOW)
        return Decision(Verdict.NO_OPINION, "no RBAC policy matched")
