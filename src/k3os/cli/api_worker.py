"""`k3os api-worker` (hidden): one of the processes `k3os server --api-workers N` starts."""

from __future__ import annotations

import socket

import click


@click.command("api-worker", hidden=True)
@click.argument("spec")
@click.argument("link_fd", type=int)
@click.argument("listen_fd", type=int)
def command(spec: str, link_fd: int, listen_fd: int) -> None:
    """Serve the API on an inherited listening socket for the server that started us."""
    from k3os.apiserver.workers import WorkerSpec, serve_worker
    from k3os.cli._eventloop import run_server_loop

    link = socket.socket(fileno=link_fd)
    listen = socket.socket(fileno=listen_fd)
    run_server_loop(serve_worker(WorkerSpec.from_json(spec), link, listen))
