"""The API's door for clients inside the server process (its own controller manager).

`InProcessEntry(peer_cert_der)` is an ASGI callable that `serve()` attaches to its app
and opens once the API would answer on the network (after seeding and the security
mirrors). Each request it forwards carries, in the scope's `state`, the DER client
certificate it was made with, in the very slot where the HTTPS protocol puts a
TLS-verified peer certificate (`PEER_CERT_STATE_KEY`). The app then authenticates and
authorizes it exactly as a TLS client presenting that certificate: same user and groups,
same RBAC, same expiry check. Nothing that arrives over a socket can fill that slot (only
`PeerCertHttpToolsProtocol` does, from the TLS handshake) and the entry is never routed
from the network, so this is no way in for anyone outside the process.

Before the server serves, requests wait; once it has stopped they get 503.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from k3os.apiserver.auth import PEER_CERT_STATE_KEY

__all__ = ["InProcessEntry", "certificate_der"]

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[Message]],
        Callable[[Message], Awaitable[None]],
    ],
    Awaitable[None],
]

_STOPPED = json.dumps(
    {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the API server is stopping",
        "reason": "ServiceUnavailable",
        "code": 503,
    }
).encode()


def certificate_der(cert_path: Path) -> bytes:
    """The DER bytes of the (first) PEM certificate in `cert_path`."""
    return ssl.PEM_cert_to_DER_cert(cert_path.read_text())


class InProcessEntry:
    """Forwards in-process requests to the server's app as the holder of `peer_cert_der`."""

    def __init__(self, peer_cert_der: bytes) -> None:
        self._state = {PEER_CERT_STATE_KEY: peer_cert_der}
        self._app: ASGIApp | None = None
        self._open = asyncio.Event()
        self._stopped = False

    def attach(self, app: ASGIApp) -> None:
        self._app = app

    def open(self) -> None:
        """The API serves: let requests through (and those waiting)."""
        self._open.set()

    def close(self) -> None:
        """The API has stopped: requests answer 503 from now on."""
        self._stopped = True
        self._open.set()

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if not self._open.is_set():
            await self._open.wait()
        if self._stopped or self._app is None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": _STOPPED})
            return
        scope["state"] = dict(self._state)  # a copy per request, as uvicorn gives each one
        await self._app(scope, receive, send)
