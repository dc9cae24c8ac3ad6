"""How the agent reaches the API: a kubeconfig given on the command line, else the node
certificate in `<data-dir>/agent/`, obtained (and renewed) with the join token by
`k3os.agent.join` when a token is given — in a child process (`k3os.agent.joinproc`), so
the agent itself never loads the cryptography a join needs.

A server that cannot be reached yet is waited for with backoff (a box often boots before
its server); a refusal (wrong CA, wrong node password, bad token) is final and says why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from k3os.agent.joinproc import JoinFailed, JoinRefused, ServerUnreachable, join_in_child
from k3os.agent.settings import AgentSettings
from k3os.client import Backoff, ClientError, Kube, connect, connect_kubeconfig

log = logging.getLogger(__name__)

FIELD_MANAGER = "k3os-agent"


class JoinUnavailable(ClientError):
    """No credentials in the data dir and no token to join with, or the join was refused."""


def have_certificate(settings: AgentSettings) -> bool:
    return all(p.is_file() for p in (settings.cert_path, settings.key_path, settings.ca_path))


Obtain = Callable[[str, str, Path, str], Awaitable[None]]
"""How the credentials are obtained: `join_in_child`, or (tests) the same join in-process."""


async def join(
    settings: AgentSettings,
    *,
    backoff: Backoff | None = None,
    sleep: Callable[[float], Any] = asyncio.sleep,
    obtain: Obtain = join_in_child,
) -> None:
    """Obtain, reuse or renew the node certificate with the join token."""
    backoff = backoff or Backoff(initial=0.5, maximum=15.0, jitter=0.2)
    failures = 0
    while True:
        try:
            await obtain(settings.server, settings.token, settings.data_dir, settings.node_name)
            return
        except (ServerUnreachable, JoinRefused) as e:
            if isinstance(e, JoinRefused) and e.status < 500:
                raise JoinUnavailable(f"join refused: {e}") from e
            failures += 1
            delay = backoff.delay(failures)
            log.info("join: %s; retrying in %.1fs", e, delay)
            await sleep(delay)
        except JoinFailed as e:
            raise JoinUnavailable(f"join failed: {e}") from e


async def connect_agent(settings: AgentSettings) -> Kube:
    if settings.kubeconfig is not None:
        return connect_kubeconfig(settings.kubeconfig, field_manager=FIELD_MANAGER)
    if settings.token:
        await join(settings)
    elif not have_certificate(settings):
        raise JoinUnavailable(
            f"{settings.agent_dir}: no node certificate; pass --token to join the cluster"
        )
    return connect(
        settings.server,
        ca=settings.ca_path,
        cert=settings.cert_path,
        key=settings.key_path,
        field_manager=FIELD_MANAGER,
    )
