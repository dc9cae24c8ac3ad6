"""The demo's live view: progress bars for the NodeConfig and the Plan, and the nodes in
flight, redrawn from the API until the rollout is complete (or halted)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from k3os.cli.fleetview import FleetSnapshot, fetch_snapshot

__all__ = ["follow_rollout", "rollout_state"]


def rollout_state(snap: FleetSnapshot, plan_name: str = "") -> dict[str, Any]:
    """Counts the live view draws: config applied, nodes upgraded, in flight, plan state
    (of the plan `namespace/name`, default the first)."""
    data = snap.as_dict()
    nc = data["nodeconfigs"][0] if data["nodeconfigs"] else {}
    plans = [p for p in data["plans"] if not plan_name or p["name"] == plan_name]
    plan = plans[0] if plans else {}
    return {
        "matched": int(nc.get("matched") or 0),
        "configured": int(nc.get("updated") or 0),
        "upgraded": int(plan.get("done") or 0),
        "applying": list(plan.get("applying") or []),
        "failed": list(plan.get("failed") or []),
        "state": str(plan.get("state") or "Pending"),
        "message": str(plan.get("message") or ""),
        "version": str(plan.get("version") or ""),
    }


def follow_rollout(
    console: Console,
    kubeconfig: Path,
    nodes: int,
    deadline: float,
    *,
    plan_name: str = "",
    poll: float = 0.5,
) -> FleetSnapshot:
    progress = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    config_task = progress.add_task("NodeConfig applied", total=nodes)
    label = plan_name.rpartition("/")[2] or "Plan"
    upgrade_task = progress.add_task(f"{label}: upgraded", total=nodes)
    line = Text("")
    with Live(Group(progress, line), console=console, refresh_per_second=8):
        while True:
            snap = asyncio.run(fetch_snapshot(kubeconfig))
            state = rollout_state(snap, plan_name)
            progress.update(
                config_task, completed=state["configured"], total=state["matched"] or nodes
            )
            progress.update(upgrade_task, completed=state["upgraded"])
            flight = ", ".join(state["applying"]) or "-"
            line.plain = f"{state['state']} {state['version']}: in flight {flight}"
            if state["failed"]:
                line.plain += f"; failed {', '.join(state['failed'])}"
            done = state["state"] == "Complete" and state["configured"] >= state["matched"] > 0
            if done or state["state"] == "Halted":
                break
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"the rollout did not finish in time: {state['message']}"
                )
            time.sleep(poll)
    console.print()
    return snap
