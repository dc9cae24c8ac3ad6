"""The join run in a child interpreter, and the join's errors.

Making a key and a CSR, and checking the stored certificate against the CA, need
`cryptography` (~10 MiB resident once loaded, and never given back). A joined agent at
rest needs none of it, so `join_in_child` runs `k3os.agent.join.ensure_node_credentials`
in a short-lived child (`k3os.agent.isolate`: the token travels on its stdin, never on a
command line). Its errors come back as the same classes:

    JoinFailed
    ├── CAMismatch          the server's CA is not the one the token pins
    ├── JoinRefused         the server answered 4xx/5xx (status and its message)
    └── ServerUnreachable   no answer (connection, TLS or timeout)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from k3os.agent.isolate import ChildFailed, run_in_child

__all__ = [
    "CAMismatch",
    "JoinFailed",
    "JoinRefused",
    "ServerUnreachable",
    "child_join",
    "join_in_child",
]

CHILD_TIMEOUT = 150.0
"""A join makes at most three requests of 30 s each; the child is killed after this."""


class JoinFailed(Exception):
    """The node could not obtain its client certificate."""


class CAMismatch(JoinFailed):
    """The server presents a CA other than the one the token pins: refuse to talk to it."""


class JoinRefused(JoinFailed):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"server refused the node certificate ({status}): {message}")
        self.status = status
        self.detail = message


class ServerUnreachable(JoinFailed):
    """No HTTP answer from the server."""


async def join_in_child(
    server: str, token: str, data_dir: Path, node_name: str, *, limit: float = CHILD_TIMEOUT
) -> None:
    """`ensure_node_credentials(server, token, data_dir, node_name)` in a child interpreter."""
    try:
        error = await run_in_child(
            "k3os.agent.joinproc:child_join",
            [server, token, str(data_dir), node_name],
            limit=limit,
        )
    except ChildFailed as e:
        if e.kind == "TimeoutError":
            raise ServerUnreachable(f"{server}: the join took too long ({e.message})") from e
        raise JoinFailed(f"the join process failed: {e}") from e
    _raise_error(error)


def _raise_error(error: Any) -> None:
    if not error:
        return
    kind, message = str(error.get("kind")), str(error.get("message"))
    if kind == "JoinRefused":
        raise JoinRefused(int(error.get("status") or 500), message)
    if kind == "CAMismatch":
        raise CAMismatch(message)
    if kind == "ServerUnreachable":
        raise ServerUnreachable(message)
    raise JoinFailed(message)


def child_join(server: str, token: str, data_dir: str, node_name: str) -> dict[str, Any] | None:
    """The child's side: the join; a JoinFailed is returned as {kind, message, status}."""
    from k3os.agent.join import ensure_node_credentials

    try:
        ensure_node_credentials(server, token, Path(data_dir), node_name)
    except JoinFailed as e:
        kind = type(e).__name__ if type(e) in _KINDS else "JoinFailed"
        detail = e.detail if isinstance(e, JoinRefused) else str(e)
        return {"kind": kind, "message": detail, "status": getattr(e, "status", None)}
    return None


_KINDS = (JoinFailed, CAMismatch, JoinRefused, ServerUnreachable)
