"""Who is making the request being served, for the code below the HTTP gate.

The gate (`app.py`) authenticates and authorizes, then records the request's
`Attributes` (user included) here; NodeRestriction admission and the join endpoint read
them back. A context variable keeps concurrent requests apart without threading the user
through every handler's signature.
"""

from __future__ import annotations

from contextvars import ContextVar

from k3os.security.authz import Attributes

__all__ = ["current_attributes", "set_current_attributes"]

_CURRENT: ContextVar[Attributes | None] = ContextVar("k3os_request_attributes", default=None)


def set_current_attributes(attrs: Attributes | None) -> None:
    _CURRENT.set(attrs)


def current_attributes() -> Attributes | None:
    """The authorized request's attributes; None outside a request or without authn."""
    return _CURRENT.get()
