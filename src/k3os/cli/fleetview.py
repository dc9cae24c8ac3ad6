"""The fleet as one snapshot: nodes (readiness, version, config hash, cordon), NodeConfigs
(matched / updated / failed) and Plans (version, progress, failures), read through the API
and drawn as rich tables. `k3os status --fleet` and `k3os demo` show it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table

if TYPE_CHECKING:
    from k3os.apis.meta import LabelSelector

__all__ = ["FleetSnapshot", "fetch_snapshot", "render_snapshot", "snapshot_tables"]

Obj = dict[str, Any]
_DONE_PREFIX = "plan.upgrade.cattle.io/"
_RECORD_PREFIX = "status.upgrade.k3os.io/"


@dataclass
class FleetSnapshot:
    nodes: list[Obj] = field(default_factory=list)
    rendered: dict[str, Obj] = field(default_factory=dict)
    nodeconfigs: list[Obj] = field(default_factory=list)
    plans: list[Obj] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodes": [self.node_row(n) for n in self.nodes],
            "nodeconfigs": [self.nodeconfig_row(n) for n in self.nodeconfigs],
            "plans": [self.plan_row(p) for p in self.plans],
        }

    def node_row(self, node: Obj) -> dict[str, Any]:
        meta = node.get("metadata") or {}
        name = str(meta.get("name"))
        labels = meta.get("labels") or {}
        ready = next(
            (
                c.get("status")
                for c in (node.get("status") or {}).get("conditions") or []
                if c.get("type") == "Ready"
            ),
            "Unknown",
        )
        rendered = self.rendered.get(name) or {}
        spec_hash = str((rendered.get("spec") or {}).get("hash") or "")
        observed = str((rendered.get("status") or {}).get("observedHash") or "")
        plans = {}
        for key, raw in (meta.get("annotations") or {}).items():
            if key.startswith(_RECORD_PREFIX):
                try:
                    plans[key[len(_RECORD_PREFIX) :]] = str(json.loads(raw).get("phase"))
                except (ValueError, AttributeError):
                    plans[key[len(_RECORD_PREFIX) :]] = "?"
        for key in labels:
            if key.startswith(_DONE_PREFIX) and labels[key] != "disabled":
                plans.setdefault(key[len(_DONE_PREFIX) :], "Done")
        return {
            "name": name,
            "ready": ready,
            "version": labels.get("k3os.io/version", ""),
            "configHash": spec_hash[:12],
            "configApplied": bool(spec_hash) and observed == spec_hash,
            "cordoned": bool((node.get("spec") or {}).get("unschedulable")),
            "plans": plans,
        }

    @staticmethod
    def nodeconfig_row(nc: Obj) -> dict[str, Any]:
        status = nc.get("status") or {}
        return {
            "name": (nc.get("metadata") or {}).get("name"),
            "priority": (nc.get("spec") or {}).get("priority", 0),
            **{k: int(status.get(k) or 0) for k in ("matched", "updated", "failed", "pending")},
        }

    def plan_row(self, plan: Obj) -> dict[str, Any]:
        meta = plan.get("metadata") or {}
        status = plan.get("status") or {}
        latest = str(status.get("latestHash") or "")
        done = sum(
            1
            for n in self.nodes
            if latest
            and ((n.get("metadata") or {}).get("labels") or {}).get(
                _DONE_PREFIX + str(meta["name"])
            )
            == latest
        )
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        complete = conditions.get("Complete") or {}
        halted = (conditions.get("Halted") or {}).get("status") == "True"
        resolved = conditions.get("LatestResolved") or {}
        shown = complete
        if halted:
            state = "Halted"
        elif resolved.get("status") == "False":  # no version to roll out: say why
            state, shown = str(resolved.get("reason") or "ResolveFailed"), resolved
        else:
            state = str(complete.get("reason") or "Pending")
        selector = _selector((plan.get("spec") or {}).get("nodeSelector"))
        return {
            "name": f"{meta.get('namespace')}/{meta.get('name')}",
            "version": status.get("latestVersion") or "",
            "hash": latest[:12],
            "done": done,
            "matched": sum(
                1
                for n in self.nodes
                if selector is not None
                and selector.matches(dict((n.get("metadata") or {}).get("labels") or {}))
            ),
            "applying": list(status.get("applying") or []),
            "failed": list(status.get("failed") or []),
            "state": state,
            "message": str(shown.get("message") or ""),
        }


def _selector(selector: Any) -> LabelSelector | None:
    """A Plan's `nodeSelector`, read once per Plan; None (selects no node) when unset or
    unreadable."""
    if not isinstance(selector, dict):
        return None
    from pydantic import ValidationError

    from k3os.apis.meta import LabelSelector

    try:
        return LabelSelector.model_validate(selector)
    except ValidationError:
        return None


async def fetch_snapshot(kubeconfig: Path) -> FleetSnapshot:
    """Read nodes, rendered configs, NodeConfigs and Plans (kinds not served yet: empty)."""
    from k3os.client import NotFoundError, connect_kubeconfig
    from k3os.client.resources import NODES
    from k3os.controllers.fleetapi import NODECONFIGS, PLANS, RENDERED

    async with connect_kubeconfig(kubeconfig, field_manager="k3os-status") as kube:
        snap = FleetSnapshot()
        snap.nodes = sorted(
            (await kube.list(NODES)).items, key=lambda n: str(n["metadata"]["name"])
        )
        try:
            rendered = (await kube.list(RENDERED)).items
            snap.rendered = {str(r["metadata"]["name"]): r for r in rendered}
            snap.nodeconfigs = (await kube.list(NODECONFIGS)).items
            snap.plans = (await kube.list(PLANS)).items
        except NotFoundError:
            pass
        return snap


def snapshot_tables(snap: FleetSnapshot) -> list[Table]:
    data = snap.as_dict()
    nodes = Table(title=f"Nodes ({len(data['nodes'])})", title_justify="left")
    nodes.add_column("NODE", no_wrap=True)
    for column in ("READY", "VERSION", "CONFIG", "CORDONED", "PLANS"):
        nodes.add_column(column)
    for row in data["nodes"]:
        config = row["configHash"] + ("" if row["configApplied"] or not row["configHash"] else "*")
        plans = ", ".join(f"{p}:{phase}" for p, phase in sorted(row["plans"].items()))
        style = "red" if any(v == "Failed" for v in row["plans"].values()) else None
        nodes.add_row(
            row["name"],
            row["ready"],
            row["version"],
            config,
            "yes" if row["cordoned"] else "",
            plans,
            style=style,
        )
    tables = [nodes]
    if data["nodeconfigs"]:
        ncs = Table(title="NodeConfigs", title_justify="left")
        for column in ("NAME", "PRIORITY", "MATCHED", "UPDATED", "FAILED", "PENDING"):
            ncs.add_column(column)
        for row in data["nodeconfigs"]:
            ncs.add_row(
                str(row["name"]),
                *(str(row[k]) for k in ("priority", "matched", "updated", "failed", "pending")),
            )
        tables.append(ncs)
    if data["plans"]:
        plan_table = Table(title="Plans", title_justify="left")
        plan_table.add_column("PLAN", no_wrap=True)
        for column in ("VERSION", "HASH", "DONE", "APPLYING", "FAILED", "STATE"):
            plan_table.add_column(column)
        for row in data["plans"]:
            plan_table.add_row(
                row["name"],
                row["version"],
                row["hash"],
                f"{row['done']}/{row['matched']}",
                ", ".join(row["applying"]),
                ", ".join(row["failed"]),
                row["state"],
                style="red" if row["state"] == "Halted" else None,
            )
        tables.append(plan_table)
    return tables


def render_snapshot(snap: FleetSnapshot) -> Group:
    return Group(*snapshot_tables(snap))
