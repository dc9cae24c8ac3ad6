"""How the agent reaches the API: a kubeconfig given on the command line, the node
certificate it keeps in `<data-dir>/agent/`, or, when it has none yet, a join with the token.

The join itself (pin the CA by the token's hash, send a CSR and the node password to
`POST /v1-k3os/node-certificate`, store what comes back) lives in `k3os.agent.join`; this
module only calls it, looked up at run time so the agent works wherever it is available.
"""

from __future__ import annotations

import importlib
import inspect
import logging

from k3os.agent.settings import AgentSettings
from k3os.client import ClientError, Kube, connect, connect_kubeconfig

log = logging.getLogger(__name__)

FIELD_MANAGER = "k3os-agent"


class JoinUnavailable(ClientError):
    """No credentials in the data dir and no join to get them."""


def have_certificate(settings: AgentSettings) -> bool:
    return all(p.is_file() for p in (settings.cert_path, settings.key_path, settings.ca_path))


async def join(settings: AgentSettings) -> None:
    """Obtain the node certificate with the join token (k3os.agent.join)."""
    try:
        module = importlib.import_module("k3os.agent.join")
    except ImportError as e:
        raise JoinUnavailable(
            f"{settings.agent_dir}: no node certificate, and this build cannot join with a "
            "token yet; pass --kubeconfig"
        ) from e
    func = getattr(module, "join", None) or getattr(module, "ensure_node_credentials", None)
    if func is None:
        raise JoinUnavailable("k3os.agent.join offers no join() function")
    result = func(
        server=settings.server,
        token=settings.token,
        data_dir=settings.data_dir,
        node_name=settings.node_name,
    )
    if inspect.isawaitable(result):
        await result


async def connect_agent(settings: AgentSettings) -> Kube:
    if settings.kubeconfig is not None:
        return connect_kubeconfig(settings.kubeconfig, field_manager=FIELD_MANAGER)
    if not have_certificate(settings):
        await join(settings)
    return connect(
        settings.server,
        ca=settings.ca_path,
        cert=settings.cert_path,
        key=settings.key_path,
        field_manager=FIELD_MANAGER,
    )
