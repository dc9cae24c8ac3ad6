"""`k3os agent`: join a cluster, register this node, keep it alive, apply its config from the
cluster and run its OS upgrades, on the root given by --root.

In the simulator (no --reboot-command) a reboot is the agent executing itself again, with
the same arguments and the same process id, and running boot selection on its root first.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from k3os.agent import AgentSettings
    from k3os.security.bootstrap import ServerPKI

log = logging.getLogger(__name__)


def _interval(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from k3os.apis.durationtext import parse_duration

    try:
        seconds = parse_duration(value).total_seconds()
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    if seconds <= 0:
        raise click.BadParameter(f"must be positive, got {value!r}")
    return seconds


@click.command("agent")
@click.option("--server", required=True, help="The API server's URL, https://host:6443.")
@click.option("--token", default="", envvar="K3OS_TOKEN", help="Join token (K10<ca-hash>::...).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/var/lib/k3os"),
    show_default=True,
    help="Where the node's credentials and progress are kept.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Root of the system this agent manages (default: / on a booted k3os system only).",
)
@click.option("--node-name", default=None, help="Node name (default: the root's hostname).")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Reach the API with this kubeconfig instead of the node certificate.",
)
@click.option("--lease-renew-interval", default="10s", show_default=True, callback=_interval)
@click.option("--status-interval", default="60s", show_default=True, callback=_interval)
@click.option("--health-command", default=None, help="A command a new version must pass.")
@click.option("--health-timeout", default="2m", show_default=True, callback=_interval)
@click.option(
    "--reboot-command",
    default=None,
    help="How to reboot after staging an upgrade (default on a test root: restart the agent).",
)
def command(
    server: str,
    token: str,
    data_dir: Path,
    root: Path | None,
    node_name: str | None,
    kubeconfig: Path | None,
    lease_renew_interval: float,
    status_interval: float,
    health_command: str | None,
    health_timeout: float,
    reboot_command: str | None,
) -> None:
    """Run the node agent until SIGTERM."""
    from k3os.agent import AgentSettings, default_node_name, run_agent
    from k3os.agent.settings import REBOOT_EXIT_CODE
    from k3os.cli._image_common import resolve_root

    for noisy in ("httpcore2", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    root = resolve_root(root).resolve()
    real_root = root == Path("/")
    if real_root and reboot_command is None:
        reboot_command = os.environ.get("K3OS_REBOOT_COMMAND", "reboot")
    settings = AgentSettings(
        server=server,
        token=token,
        node_name=node_name or default_node_name(root),
        data_dir=data_dir.resolve(),
        root=root,
        kubeconfig=kubeconfig,
        renew_interval=lease_renew_interval,
        status_interval=status_interval,
        health_command=health_command,
        health_timeout=health_timeout,
        reboot_command=reboot_command,
    )

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_agent(settings, stop)

    from k3os.client import ClientError

    try:
        code = asyncio.run(main())
    except ClientError as e:
        raise click.ClickException(str(e)) from e
    if code == REBOOT_EXIT_CODE and reboot_command is None:
        log.info("rebooting (simulated): starting the agent again")
        # exec skips exit handlers: run them now (log flushing, measurement data).
        atexit._run_exitfuncs()
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    raise SystemExit(code)


def _server_node_certificate(pki: ServerPKI, settings: AgentSettings) -> None:
    """The in-process agent's credentials, signed by the server's own CA (no join needed)."""
    from k3os.security.pki import issue, load_pair, needs_renewal, save_pair

    if all(p.is_file() for p in (settings.cert_path, settings.key_path, settings.ca_path)):
        pair = load_pair(settings.cert_path, settings.key_path)
        if not needs_renewal(pair.cert) and settings.ca_path.read_bytes() == pki.ca.cert_pem:
            return
    name = settings.node_name
    cert, key = issue(pki.ca, f"system:node:{name}", organizations=["system:nodes"], client=True)
    assert key is not None
    settings.agent_dir.mkdir(parents=True, exist_ok=True)
    save_pair(cert, key, settings.cert_path, settings.key_path)
    settings.ca_path.write_bytes(pki.ca.cert_pem)


async def beside_server(server: Coroutine[Any, Any, None], pki: ServerPKI, url: str) -> None:
    """Run `server` with a node agent beside it: the server's own machine registers as a
    node. It manages `/` only on a booted k3os system; elsewhere it registers and heartbeats,
    and answers the configs and upgrades meant for it that it cannot apply them."""
    from k3os.agent import AgentSettings, default_node_name, run_agent
    from k3os.cli._image_common import on_booted_k3os

    root = Path("/") if on_booted_k3os() else None
    settings = AgentSettings(
        server=url,
        node_name=default_node_name(root),
        data_dir=pki.data_dir,
        root=root,
        mode="server",
        reboot_command=os.environ.get("K3OS_REBOOT_COMMAND", "reboot") if root else None,
    )
    _server_node_certificate(pki, settings)
    agent = asyncio.create_task(run_agent(settings), name="agent")
    roles = asyncio.create_task(
        _label_server_node(pki.kubeconfig_path, settings.node_name), name="server-roles"
    )
    try:
        await server
    finally:
        for task in (roles, agent):
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("%s failed", task.get_name())


SERVER_ROLES = {
    "node-role.kubernetes.io/control-plane": "true",
    "node-role.kubernetes.io/master": "true",
}
"""The labels k3s puts on a server's node (`kubectl get nodes` shows them as ROLES, and
upgrade plans tell servers from agents by them)."""


async def _label_server_node(kubeconfig: Path, name: str, *, every: float = 60.0) -> None:
    """Give this server's own Node the control-plane roles, as k3s does, once it has
    registered and again whenever they are gone (a Node deleted and registered anew): a
    look every `every` seconds. The server writes them with its admin credentials: a node
    may not set its own `node-role.kubernetes.io/*` labels (NodeRestriction)."""
    from k3os.client import ClientError, connect_kubeconfig
    from k3os.client.resources import NODES

    delay = 0.5
    while True:
        try:
            async with connect_kubeconfig(kubeconfig, field_manager="k3os-server") as kube:
                while True:
                    node = await kube.get(NODES, name)
                    labels = (node.get("metadata") or {}).get("labels") or {}
                    if any(labels.get(key) != value for key, value in SERVER_ROLES.items()):
                        await kube.patch(NODES, name, {"metadata": {"labels": SERVER_ROLES}})
                        log.info("labelled node %s control-plane", name)
                    delay = 0.5
                    await asyncio.sleep(every)
        except (ClientError, OSError) as e:  # not up, or not registered (yet, or again)
            log.debug("server roles for node %s: %s; again in %.1fs", name, e, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)
