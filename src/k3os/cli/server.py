"""`k3os server`: the Kubernetes-compatible API over HTTPS on the datastore."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import click

from k3os.cli._eventloop import run_server_loop
from k3os.cli.controller_manager import duration_seconds, manager_options
from k3os.cli.logs import logging_options

log = logging.getLogger(__name__)


@click.command("server")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/var/lib/k3os"),
    show_default=True,
    help="Where certificates, the datastore and kubeconfig.yaml live.",
)
@click.option(
    "--bind-address", default="127.0.0.1", show_default=True, help="Address to listen on."
)
@click.option("--https-listen-port", type=click.IntRange(0, 65535), default=6443, show_default=True)
@click.option(
    "--datastore-endpoint",
    default="",
    help="sqlite:///path, etcd://host:2379[,host:2379], http(s)://... or memory:// "
    "(default: SQLite in <data-dir>/server/db/state.db).",
)
@click.option("--tls-san", multiple=True, help="Extra name or IP for the serving certificate.")
@click.option("--token", default=None, help="Node join token secret (default: generated).")
@click.option("--disable-agent", is_flag=True, help="Do not run a node agent in this process.")
@click.option(
    "--anonymous-health/--no-anonymous-health",
    default=True,
    show_default=True,
    help="Serve /livez, /readyz, /healthz and /version without credentials.",
)
@click.option(
    "--disable-controller-manager", is_flag=True, help="Do not run the controllers in-process."
)
@click.option(
    "--controller-manager-transport",
    type=click.Choice(["in-process", "https"]),
    default="in-process",
    show_default=True,
    envvar="K3OS_CONTROLLER_MANAGER_TRANSPORT",
    help="How the in-process controllers reach the API: straight into it, or over HTTPS.",
)
@click.option(
    "--api-workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    envvar="K3OS_API_WORKERS",
    help="Extra processes serving the API on the same port (more cores for a large fleet).",
)
@click.option(
    "--http2/--no-http2",
    default=True,
    show_default=True,
    envvar="K3OS_HTTP2",
    help="Offer HTTP/2 to clients (agents then put their requests and watches on one "
    "connection); --no-http2 serves HTTP/1.1 only, and clients fall back to it.",
)
@click.option(
    "--event-ttl",
    default="1h",
    show_default=True,
    callback=lambda ctx, param, value: math.ceil(duration_seconds(ctx, param, value)),
    help="How long an Event is kept after it was last written, in whole seconds (the "
    "store deletes it then, as kube-apiserver's --event-ttl).",
)
@manager_options
def command(
    data_dir: Path,
    bind_address: str,
    https_listen_port: int,
    datastore_endpoint: str,
    tls_san: tuple[str, ...],
    token: str | None,
    disable_agent: bool,
    anonymous_health: bool,
    disable_controller_manager: bool,
    controller_manager_transport: str,
    api_workers: int,
    http2: bool,
    event_ttl: int,
    **manager: Any,
) -> None:
    """Serve the Kubernetes API (HTTPS, client certificates) until SIGTERM."""
    from k3os.apiserver.server import ServeOptions, default_datastore, serve
    from k3os.apiserver.sharedca import prepare_datastore
    from k3os.security.bootstrap import ensure_server_pki
    from k3os.security.errors import SecurityError
    from k3os.store import InvalidStoreURL, StoreError, StoreUnavailable

    data_dir = data_dir.resolve()
    datastore = datastore_endpoint or default_datastore(data_dir)
    try:  # servers sharing an etcd share one CA: fetch it, or publish ours (docs/ha.md)
        token = prepare_datastore(datastore, data_dir, token)
    except (SecurityError, StoreError) as e:
        raise click.ClickException(f"datastore {datastore}: {e}") from e
    pki = ensure_server_pki(data_dir, bind_address=bind_address, tls_sans=tls_san, token=token)
    host = "127.0.0.1" if bind_address in ("0.0.0.0", "::", "") else bind_address
    url_host = f"[{host}]" if ":" in host else host
    kubeconfig = pki.write_admin_kubeconfig(f"https://{url_host}:{https_listen_port}")
    log.info("wrote admin kubeconfig", extra={"path": str(kubeconfig)})
    opts = ServeOptions(
        host=bind_address,
        port=https_listen_port,
        datastore=datastore,
        pki=pki,
        anonymous_health=anonymous_health,
        api_workers=api_workers,
        http2=http2,
        event_ttl=event_ttl,
        worker_command=[sys.executable, "-m", "k3os", *logging_options(), "api-worker"],
    )
    main: Coroutine[Any, Any, None] = serve(opts)
    if not disable_agent:
        from k3os.cli.agent import beside_server as with_agent

        main = with_agent(main, pki, f"https://{url_host}:{https_listen_port}")
    if not disable_controller_manager:
        from k3os.cli.controller_manager import beside_server

        main = beside_server(
            main,
            opts,
            f"https://{url_host}:{https_listen_port}",
            manager,
            in_process=controller_manager_transport == "in-process",
        )
    try:
        run_server_loop(main)
    except (InvalidStoreURL, StoreUnavailable) as e:
        raise click.ClickException(f"datastore: {e}") from e
