"""The join run in a child interpreter, and the join's errors.

Making a key and a CSR, and checking the stored certificate against the CA, need
`cryptography` (~10 MiB resident once loaded, and never given back). A joined agent at
rest needs none of it, so `join_in_child` runs `k3os.agent.join.ensure_node_credentials`
in a short-lived `python` of the same installation: one JSON request on its stdin (the
token travels there, never on a command line), one JSON answer on its stdout, the join's
log lines replayed into this process's log. Its errors come back as the same classes:

    JoinFailed
    ├── CAMismatch          the server's CA is not the one the token pins
    ├── JoinRefused         the server answered 4xx/5xx (status and its message)
    └── ServerUnreachable   no answer (connection, TLS or timeout)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "CAMismatch",
    "JoinFailed",
    "JoinRefused",
    "ServerUnreachable",
    "child_main",
    "join_in_child",
]

log = logging.getLogger("k3os.agent.join")

CHILD_TIMEOUT = 150.0
"""A join makes at most three requests of 30 s each; the child is killed after this."""

_BOOTSTRAP = (
    "import json, sys; request = json.loads(sys.stdin.readline()); "
    "sys.path[:0] = request['path']; "
    "from k3os.agent.joinproc import child_main; child_main(request)"
)


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
    request = {
        "path": [p for p in sys.path if p],
        "server": server,
        "token": token,
        "data_dir": str(data_dir),
        "node_name": node_name,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _BOOTSTRAP,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(json.dumps(request).encode() + b"\n"), limit
        )
    except TimeoutError:
        raise ServerUnreachable(f"{server}: the join took longer than {limit:.0f}s") from None
    finally:
        if proc.returncode is None:  # cancelled or timed out: do not leave it running
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    answer = _answer(out, err, proc.returncode)
    for level, message in answer.get("logs") or []:
        log.log(int(level), "%s", message)
    _raise_error(answer.get("error"))


def _answer(out: bytes, err: bytes, code: int | None) -> dict[str, Any]:
    try:
        answer = json.loads(out)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise JoinFailed(
            f"the join process failed (exit {code}): {' / '.join(tail) or 'no output'}"
        )
    return answer


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


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


def child_main(request: dict[str, Any]) -> None:
    """The child's side: run the join, print one JSON answer, exit 0 (errors are answers)."""
    from k3os.agent.join import ensure_node_credentials

    collect = _Collect()
    logger = logging.getLogger("k3os.agent.join")
    logger.addHandler(collect)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    answer: dict[str, Any] = {}
    try:
        creds = ensure_node_credentials(
            request["server"], request["token"], Path(request["data_dir"]), request["node_name"]
        )
        answer["not_after"] = creds.not_after.isoformat()
    except JoinFailed as e:
        kind = type(e).__name__ if type(e) in _KINDS else "JoinFailed"
        detail = e.detail if isinstance(e, JoinRefused) else str(e)
        answer["error"] = {"kind": kind, "message": detail, "status": getattr(e, "status", None)}
    answer["logs"] = collect.lines
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


_KINDS = (JoinFailed, CAMismatch, JoinRefused, ServerUnreachable)
