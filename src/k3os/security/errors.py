"""Errors of the security room.

SecurityError
├── TokenError          a join token that cannot be parsed or does not match
└── PKIError            a certificate or key on disk that cannot be used
"""

from __future__ import annotations


class SecurityError(Exception):
    """Base of every error raised by k3os.security."""


class TokenError(SecurityError):
    """A join token is malformed or names a CA other than the one presented."""


class PKIError(SecurityError):
    """A certificate or key cannot be read, parsed or used."""
