"""Errors of the client layer and of reconcilers, as one tree.

ClientError                  anything the client layer raises
├── TransportError           no answer: refused, reset, TLS, timeout
└── ApiStatusError           the server answered with a failure Status (`code`, `reason`)
    ├── NotFoundError        404
    ├── ConflictError        409 (a stale resourceVersion, or AlreadyExists)
    └── GoneError            410 (a watch or list from a compacted resourceVersion)
ReconcileError               raised by a reconciler to say whether to retry
├── PermanentError           do not retry until the object changes
└── TemporaryError           retry after `delay` seconds (None: the queue's backoff)
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ApiStatusError",
    "ClientError",
    "ConflictError",
    "GoneError",
    "NotFoundError",
    "PermanentError",
    "ReconcileError",
    "TemporaryError",
    "TransportError",
    "status_error",
]


class ClientError(Exception):
    """Base of everything the client layer raises."""


class TransportError(ClientError):
    """The request got no HTTP answer (connection refused or reset, TLS failure, timeout)."""


class ApiStatusError(ClientError):
    """The API answered with a failure `Status`."""

    def __init__(self, code: int, reason: str, message: str, status: dict[str, Any]) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.status = status


class NotFoundError(ApiStatusError):
    """404: the object (or its namespace, or its kind) does not exist."""


class ConflictError(ApiStatusError):
    """409: the object changed since it was read, or already exists."""


class GoneError(ApiStatusError):
    """410: the resourceVersion asked for has been compacted away; list again."""


_BY_CODE: dict[int, type[ApiStatusError]] = {404: NotFoundError, 409: ConflictError, 410: GoneError}


def status_error(code: int, body: bytes | dict[str, Any]) -> ApiStatusError:
    """The error for a failed answer: its HTTP code and body (a Status, ideally)."""
    status: dict[str, Any]
    if isinstance(body, dict):
        status = body
    else:
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            parsed = None
        status = parsed if isinstance(parsed, dict) else {"message": body.decode(errors="replace")}
    code = int(status.get("code") or code)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    return _BY_CODE.get(code, ApiStatusError)(code, reason, message, status)


class ReconcileError(Exception):
    """Raised by a reconciler to tell its controller whether to try again."""


class PermanentError(ReconcileError):
    """Retrying cannot help: the key is dropped until something enqueues it again."""


class TemporaryError(ReconcileError):
    """Try again later: after `delay` seconds, or after the queue's backoff when None."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay
