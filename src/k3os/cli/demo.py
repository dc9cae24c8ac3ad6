"""`k3os demo`: a whole fleet on this machine in one command.

It starts a `k3os server` on SQLite in a temporary directory, builds signed bundles (the
installed v1.0.0 and a v1.1.0 published on a local release channel), starts N real node
agents on installed temporary roots, applies a NodeConfig and an upgrade Plan, shows the
rollout live, and ends with a summary of the fleet. Everything listens on 127.0.0.1 and
is stopped (and, without --keep, removed) at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import click

__all__ = ["bad_plan", "command", "demo_objects"]

PLAN_NAMESPACE = "k3os-system"


def demo_objects(channel_url: str, nodes: int) -> list[dict[str, Any]]:
    """The NodeConfig and Plan the demo applies."""
    nodeconfig = {
        "apiVersion": "k3os.io/v1",
        "kind": "NodeConfig",
        "metadata": {"name": "demo-site"},
        "spec": {
            "nodeSelector": {"matchLabels": {"site": "demo"}},
            "config": {
                "k3os": {"ntp_servers": ["ntp.demo.example.com"], "dns_nameservers": ["10.0.0.53"]}
            },
        },
    }
    plan = {
        "apiVersion": "upgrade.cattle.io/v1",
        "kind": "Plan",
        "metadata": {"name": "k3os-latest", "namespace": PLAN_NAMESPACE},
        "spec": {
            "channel": channel_url,
            "concurrency": max(1, min(3, nodes // 3)),
            "nodeSelector": {"matchLabels": {"k3os.io/upgrade": "true"}},
            "drain": {"timeout": "1m", "force": True},
            "upgrade": {"image": "k3os-$(LATEST_VERSION).bundle"},
        },
    }
    return [nodeconfig, plan]


def bad_plan() -> dict[str, Any]:
    """A Plan to a release that fails its health check: rolls back on one node and halts."""
    return {
        "apiVersion": "upgrade.cattle.io/v1",
        "kind": "Plan",
        "metadata": {"name": "k3os-bad", "namespace": PLAN_NAMESPACE},
        "spec": {
            "version": "v1.2.0",
            "concurrency": 2,
            "canary": {"nodes": 1},
            "nodeSelector": {"matchLabels": {"k3os.io/upgrade": "true"}},
            "drain": {"timeout": "1m", "force": True},
            "upgrade": {"image": "k3os-$(LATEST_VERSION).bundle"},
        },
    }


async def _apply(kubeconfig: Path, names: list[str], objects: list[dict[str, Any]]) -> None:
    from k3os.client import ConflictError, connect_kubeconfig
    from k3os.client.resources import NAMESPACES, NODES
    from k3os.controllers.fleetapi import NODECONFIGS, PLANS, ensure_crds

    async with connect_kubeconfig(kubeconfig, field_manager="k3os-demo") as kube:
        await asyncio.wait_for(ensure_crds(kube), 60)
        for name in names:
            await kube.patch(NODES, name, {"metadata": {"labels": {"k3os.io/upgrade": "true"}}})
        with contextlib.suppress(ConflictError):
            await kube.create(NAMESPACES, {"metadata": {"name": PLAN_NAMESPACE}})
        for obj in objects:
            rt = NODECONFIGS if obj["kind"] == "NodeConfig" else PLANS
            await kube.create(rt, obj, PLAN_NAMESPACE if rt.namespaced else "")


async def _snapshot(kubeconfig: Path) -> Any:
    from k3os.cli.fleetview import fetch_snapshot

    return await fetch_snapshot(kubeconfig)


def _wait_nodes(kubeconfig: Path, count: int, deadline: float) -> Any:
    while time.monotonic() < deadline:
        snap = asyncio.run(_snapshot(kubeconfig))
        ready = [n for n in snap.as_dict()["nodes"] if n["ready"] == "True"]
        if len(ready) >= count:
            return snap
        time.sleep(0.5)
    raise click.ClickException(f"the nodes did not all register within the time limit ({count})")


@click.command("demo")
@click.option("--nodes", type=click.IntRange(1, 100), default=6, show_default=True)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the server, bundles and node roots (default: a temporary dir).",
)
@click.option("--keep", is_flag=True, help="Keep the work dir (logs, roots) afterwards.")
@click.option("--timeout", type=click.IntRange(30, 3600), default=600, show_default=True)
@click.option(
    "--bad-release",
    is_flag=True,
    help="Then roll a broken v1.2.0: watch it fall back on its first node and halt the Plan.",
)
def command(nodes: int, work_dir: Path | None, keep: bool, timeout: int, bad_release: bool) -> None:
    """Start a server and N simulated nodes, roll out a NodeConfig and an upgrade Plan."""
    from rich.console import Console

    from k3os.client import ClientError
    from k3os.sim.channel import ChannelServer
    from k3os.sim.fleet import Fleet
    from k3os.sim.images import build_sim_bundle, signing_key
    from k3os.sim.server import start_server

    console = Console()
    work = work_dir or Path(tempfile.mkdtemp(prefix="k3os-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    deadline = started + timeout
    server = None
    try:
        with console.status("building signed bundles v1.0.0 and v1.1.0"):
            signer = signing_key(work / "keys")
            images = work / "server" / "server" / "images"
            base = build_sim_bundle(work / "build", signer, "v1.0.0", images)
            build_sim_bundle(work / "build", signer, "v1.1.0", images)
        with console.status("starting k3os server (SQLite, TLS on 127.0.0.1)"):
            server = start_server(work / "server", ["--disable-agent"])
        console.print(f"server [bold]{server.url}[/], kubeconfig {server.kubeconfig}")
        with (
            ChannelServer({"stable": "v1.1.0"}) as channel,
            Fleet(server, work / "nodes", signer, base, log_level="warning") as fleet,
        ):
            names = [f"node-{i:02d}" for i in range(nodes)]
            with console.status(f"starting {nodes} node agents"):
                fleet.start_kubelet()
                for name in names:
                    fleet.add(name, {"site": "demo"})
                _wait_nodes(server.kubeconfig, nodes, deadline)
            objects = demo_objects(channel.channel_url("stable"), nodes)
            try:
                asyncio.run(_apply(server.kubeconfig, names, objects))
            except (ClientError, TimeoutError) as e:
                raise click.ClickException(f"applying the demo objects: {e!r}") from e
            console.print("applied NodeConfig [bold]demo-site[/] and Plan [bold]k3os-latest[/]")
            from k3os.cli.demoview import follow_rollout

            snap = follow_rollout(
                console,
                server.kubeconfig,
                nodes,
                deadline,
                plan_name=f"{PLAN_NAMESPACE}/k3os-latest",
            )
            if bad_release:
                with console.status("building a broken v1.2.0 (fails its health check)"):
                    build_sim_bundle(work / "build", signer, "v1.2.0", images, healthy=False)
                asyncio.run(_apply(server.kubeconfig, [], [bad_plan()]))
                console.print("applied Plan [bold]k3os-bad[/] (v1.2.0, canary of 1 node)")
                snap = follow_rollout(
                    console,
                    server.kubeconfig,
                    nodes,
                    deadline,
                    plan_name=f"{PLAN_NAMESPACE}/k3os-bad",
                )
        from k3os.cli.fleetview import render_snapshot

        console.print()
        console.print(render_snapshot(snap))
        console.print(f"done in {time.monotonic() - started:.0f}s; work dir: {work}")
    finally:
        if server is not None:
            server.stop()
        if not keep and work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
