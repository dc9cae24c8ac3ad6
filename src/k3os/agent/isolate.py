"""Running a heavy function in a short-lived child interpreter, so the agent never imports
what it needs: `await run_in_child("module:function", args)`.

A module, once imported, stays in a process for good (the config engine's pydantic
schema is ~10 MiB, a join's cryptography ~10 MiB), while the agent needs them only at
start-up and on rare changes. The child is `python` of the same installation: one JSON
request on its stdin (`sys.path`, the target, the arguments — secrets travel here, never
on a command line), one JSON answer on its stdout; the log records it made at this
process's level are replayed into this process's log under their own logger names. The
arguments and the result must be JSON; an exception in the child comes back as
`ChildFailed` with its type and message.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import sys
from typing import Any

__all__ = ["ChildFailed", "child_main", "run_in_child"]

_BOOTSTRAP = (
    "import json, sys; request = json.loads(sys.stdin.readline()); "
    "sys.path[:0] = request['path']; "
    "from k3os.agent.isolate import child_main; child_main(request)"
)


class ChildFailed(Exception):
    """The child raised (`kind` is the exception's type name), or died, or took too long."""

    def __init__(self, target: str, kind: str, message: str) -> None:
        super().__init__(f"{target}: {kind}: {message}")
        self.kind = kind
        self.message = message


async def run_in_child(target: str, args: list[Any], *, limit: float = 300.0) -> Any:
    """`module:function(*args)` in a child interpreter; its JSON result."""
    request = {
        "path": [p for p in sys.path if p],
        "target": target,
        "args": args,
        "level": logging.getLogger().getEffectiveLevel(),
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
        raise ChildFailed(target, "TimeoutError", f"no answer within {limit:.0f}s") from None
    finally:
        if proc.returncode is None:  # cancelled or timed out: do not leave it running
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    lines = out.strip().splitlines()  # the answer is the last line, whatever else printed
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        tail = " / ".join(err.decode(errors="replace").strip().splitlines()[-3:])
        raise ChildFailed(target, "exit", f"status {proc.returncode}: {tail or 'no output'}")
    for name, level, message in answer.get("logs") or []:
        logging.getLogger(str(name)).log(int(level), "%s", message)
    error = answer.get("error")
    if error:
        raise ChildFailed(target, str(error.get("kind")), str(error.get("message")))
    return answer.get("result")


class _Collect(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def child_main(request: dict[str, Any]) -> None:
    """The child's side: call the target, print one JSON answer (errors are answers)."""
    collect = _Collect(int(request.get("level") or logging.INFO))
    root = logging.getLogger()
    root.addHandler(collect)
    root.setLevel(collect.level)
    answer: dict[str, Any] = {}
    try:
        module, _, name = str(request["target"]).partition(":")
        answer["result"] = getattr(importlib.import_module(module), name)(*request["args"])
    except Exception as e:
        answer["error"] = {"kind": type(e).__name__, "message": str(e)}
    answer["logs"] = collect.records
    sys.stdout.write(json.dumps(answer, default=str) + "\n")
    sys.stdout.flush()
