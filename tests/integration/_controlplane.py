"""Helpers for the client-layer and controller tests: a `k3os server` on a port of our
choosing (so it can be restarted in place), and polling until a condition holds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from k3os.client import Kube, NotFoundError
from tests.integration._apiserver import RunningServer, _wait_ready

T = TypeVar("T")


def start_server(
    data_dir: Path, port: int, extra: Sequence[str] = (), *, log_name: str = ""
) -> RunningServer:
    log = data_dir.parent / (log_name or f"{data_dir.name}-server.log")
    cmd = [
        sys.executable, "-m", "k3os", "--log-level", "info", "server",
        "--data-dir", str(data_dir), "--https-listen-port", str(port), *extra,
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    server = RunningServer(proc, data_dir, port, log)
    try:
        _wait_ready(server, time.monotonic() + 60)
    except BaseException:
        server.stop()
        raise
    return server


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float = 30.0, what: str = ""
) -> T:
    """Poll `probe` until it returns something other than None or False."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last is not None and last is not False:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or probe}; last: {last!r}")


async def maybe_get(kube: Kube, rt: Any, name: str, namespace: str = "") -> dict[str, Any] | None:
    """The object, or None when the server says it is not there."""
    try:
        return await kube.get(rt, name, namespace)
    except NotFoundError:
        return None


async def gone(kube: Kube, rt: Any, name: str, namespace: str = "") -> bool:
    return await maybe_get(kube, rt, name, namespace) is None
