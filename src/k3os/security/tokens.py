"""Join tokens in the k3s form: `K10<sha256 of the CA certificate>::<user>:<secret>`.

The hash pins the cluster CA: a joining box compares it with the CA the server presents
before it sends anything secret. A bare secret (no `K10` prefix) is accepted too, but then
nothing is pinned and the caller must say so.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from k3os.security.errors import TokenError

PREFIX = "K10"
_FULL = re.compile(r"^K10(?P<hash>[0-9a-f]{64})::(?P<user>[a-z0-9_-]+):(?P<secret>\S+)$")
_SECRET = re.compile(r"^[A-Za-z0-9._~+/=-]{8,}$")


def ca_hash(ca_pem: bytes) -> str:
    """The hex sha256 of the CA certificate exactly as the server serves it (PEM bytes)."""
    return hashlib.sha256(ca_pem).hexdigest()


def new_secret() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class JoinToken:
    secret: str
    user: str = "server"
    ca_sha256: str | None = None

    def __str__(self) -> str:
        if self.ca_sha256 is None:
            return self.secret
        return f"{PREFIX}{self.ca_sha256}::{self.user}:{self.secret}"

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return f"JoinToken(user={self.user!r}, ca_sha256={self.ca_sha256!r}, secret=<hidden>)"

    def check_ca(self, ca_pem: bytes) -> None:
        """Raise TokenError unless the presented CA is the one the token pins."""
        if self.ca_sha256 is None:
            raise TokenError("token does not pin a CA (no K10<hash> prefix)")
        got = ca_hash(ca_pem)
        if not hmac.compare_digest(got, self.ca_sha256):
            raise TokenError(
                f"server CA sha256 {got} does not match the token's {self.ca_sha256}; "
                "refusing to join"
            )

    def matches_secret(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret.encode(), secret.encode())


def parse_token(text: str) -> JoinToken:
    """Parse `K10<hash>::<user>:<secret>` or a bare secret."""
    text = text.strip()
    if text.startswith(PREFIX):
        m = _FULL.match(text)
        if m is None:
            raise TokenError("malformed token: expected K10<64 hex chars>::<user>:<secret>")
        return JoinToken(m["secret"], m["user"], m["hash"])
    if not _SECRET.match(text):
        raise TokenError("malformed token: a bare secret needs at least 8 plain characters")
    return JoinToken(text)
