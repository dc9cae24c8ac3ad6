"""`k3os controller-manager`: the cluster's housekeeping controllers against any API server,
and the options and hook `k3os server` uses to run the same manager in its own process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from k3os.apiserver.server import ServeOptions
    from k3os.client import Kube
    from k3os.controllers.manager import ManagerSettings

log = logging.getLogger(__name__)

FIELD_MANAGER = "k3os-controller-manager"

F = TypeVar("F", bound=Callable[..., Any])


def duration_seconds(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """A click callback: a positive duration (`90s`, `1h30m`) in seconds."""
    from k3os.apis.duration import parse_duration

    try:
        seconds = parse_duration(value).total_seconds()
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    if seconds <= 0:
        raise click.BadParameter(f"must be positive, got {value!r}")
    return seconds


def manager_options(func: F) -> F:
    """The controller manager's options, shared by `server` and `controller-manager`."""
    options = [
        click.option(
            "--node-monitor-grace-period",
            default="40s",
            show_default=True,
            callback=duration_seconds,
            help="A node not heartbeating this long turns Ready=Unknown and unreachable.",
        ),
        click.option(
            "--leader-elect-lease-duration",
            default="15s",
            show_default=True,
            callback=duration_seconds,
        ),
        click.option(
            "--leader-elect-renew-deadline",
            default="10s",
            show_default=True,
            callback=duration_seconds,
        ),
        click.option(
            "--leader-elect-retry-period",
            default="2s",
            show_default=True,
            callback=duration_seconds,
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def settings_from(options: dict[str, Any], ca_pem: str) -> ManagerSettings:
    from k3os.client import LeaseSettings
    from k3os.controllers.manager import ManagerSettings

    try:
        lease = LeaseSettings(
            "k3os-controller-manager",
            "kube-system",
            lease_duration=options["leader_elect_lease_duration"],
            renew_deadline=options["leader_elect_renew_deadline"],
            retry_period=options["leader_elect_retry_period"],
        )
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    return ManagerSettings(
        ca_pem=ca_pem,
        node_grace_period=options["node_monitor_grace_period"],
        lease=lease,
    )


async def _run_manager(kube: Kube, settings: ManagerSettings) -> None:
    from k3os.controllers.manager import ControllerManager

    manager = ControllerManager(kube, settings)
    log.info("controller manager started", extra={"identity": manager.identity})
    try:
        await manager.run()
    finally:
        await kube.aclose()


async def beside_server(
    server: Coroutine[Any, Any, None],
    opts: ServeOptions,
    url: str,
    options: dict[str, Any],
    *,
    in_process: bool = True,
) -> None:
    """Run `server` (which serves `opts`) with the controller manager beside it, as the
    controller certificate's user. Its requests go straight into the server's app on this
    event loop (`InProcessKube`, no TLS, socket or HTTP parsing), or over HTTPS to
    `url` when `in_process` is off. On SIGTERM the manager stops first (releasing its
    Lease while the API still answers), then the server."""
    from k3os.client.kube import Kube, client_config
    from k3os.security.bootstrap import ensure_controller_cert

    assert opts.pki is not None
    pki = opts.pki
    pair = ensure_controller_cert(pki)
    config = client_config(url, ca=pki.ca.cert_path, cert=pair.cert_path, key=pair.key_path)
    kube: Kube
    if in_process:
        from k3os.apiserver.inprocess import InProcessEntry, certificate_der
        from k3os.client.inprocess import InProcessKube

        opts.in_process = InProcessEntry(certificate_der(pair.cert_path))
        kube = InProcessKube(config, opts.in_process, field_manager=FIELD_MANAGER)
        log.info("the controller manager calls the API in-process")
    else:
        kube = Kube(config, field_manager=FIELD_MANAGER)
    manifests = pki.data_dir / "server" / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    settings = replace(settings_from(options, pki.ca.cert_pem.decode()), manifests_dir=manifests)
    manager = asyncio.create_task(_run_manager(kube, settings), name="controller-manager")

    async def stop_manager() -> None:
        manager.cancel()
        try:
            await manager
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("controller manager failed")

    opts.before_stop = stop_manager  # read when the server starts, which is below
    if "plan" in settings.controllers or "nodeconfig" in settings.controllers:
        from k3os.controllers.metrics import render

        opts.metrics = render
    try:
        await server
    finally:
        await stop_manager()


def _ca_pem(kube: Kube) -> str:
    cluster = kube.config.cluster
    data = getattr(cluster, "certificate_auth_data", None)
    if data:
        return base64.b64decode(data).decode()
    path = getattr(cluster, "certificate_auth", None)
    return Path(kube.config.abs_file(path)).read_text() if path else ""


@click.command("controller-manager")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="How to reach the API server.",
)
@click.option(
    "--manifests-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Apply the YAML files in this directory (as a server does <data-dir>/server/manifests).",
)
@manager_options
def command(kubeconfig: Path, manifests_dir: Path | None, **options: Any) -> None:
    """Run the namespace, garbage collection, namespace defaults, event TTL and node
    lifecycle controllers, on whichever candidate holds the leader Lease."""
    from k3os.client import ClientError, connect_kubeconfig

    try:
        kube = connect_kubeconfig(kubeconfig, field_manager=FIELD_MANAGER)
    except (ClientError, OSError, ValueError) as e:
        raise click.ClickException(f"{kubeconfig}: {e}") from e
    settings = replace(settings_from(options, _ca_pem(kube)), manifests_dir=manifests_dir)

    async def main() -> None:
        task = asyncio.create_task(_run_manager(kube, settings), name="controller-manager")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
