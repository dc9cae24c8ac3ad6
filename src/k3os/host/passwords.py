"""Password hashing for `/etc/shadow`: bcrypt (`$2b$`, understood by Debian's libxcrypt).

The stdlib `crypt` module is deprecated (and gone in Python 3.13), so hashing uses the
`bcrypt` package. A configured value starting with `$` is already a hash and is used as is.
"""

from __future__ import annotations

import bcrypt

ROUNDS = 12


def is_hash(value: str) -> bool:
    return value.startswith("$")


def hash_password(plain: str) -> str:
    return bcrypt.hashpw(plain.encode(), bcrypt.gensalt(ROUNDS)).decode()


def matches(plain: str, hashed: str) -> bool:
    """True when `hashed` (from shadow) is a bcrypt hash of `plain`."""
    if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
        return False
    try:
        return bcrypt.checkpw(plain.encode(), hashed.encode())
    except ValueError:
        return False


def shadow_value(configured: str | None, current: str | None) -> str:
    """What the shadow password field should hold; keeps `current` when it already fits."""
    if configured is None:
        return "*"  # no password login; SSH keys still work
    if is_hash(configured):
        return configured
    if current is not None and matches(configured, current):
        return current
    return hash_password(configured)
