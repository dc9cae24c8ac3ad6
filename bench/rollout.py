"""Fleet decisions benchmark: what one rollout step and one config render cost at scale.

Figures (one JSON line each):
  selector/N            matching the plan's selector against N nodes (baseline)
  select-next-nodes/N   one whole rollout decision over N nodes (half done, some in flight)
  plan-nodes/N          the same decision as the Plan controller takes it each pass: its
                        PlanNodes kept, given the 5 nodes changed since the last one
                        (baseline: select-next-nodes/N)
  plan-hash             hashing a plan with its secrets
  render/N-configs      rendering one node's config from N NodeConfigs (all matching)
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, machine, now, parse_args
from k3os.apis import NodeConfig, NodeUpgradeRecord, Plan
from k3os.apis.keys import done_label, node_record_key
from k3os.controllers.decisions import (
    NodeView,
    PlanNodes,
    plan_hash,
    render_node_config,
    select_next_nodes,
)

BENCH = "rollout"
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
HASH = "cafe" * 14


def timed(fn: Callable[[], Any], seconds: float) -> float:
    """Mean seconds per call over about `seconds` of wall time."""
    calls, start = 0, now()
    while True:
        fn()
        calls += 1
        elapsed = now() - start
        if elapsed >= seconds:
            return elapsed / calls


def fleet(size: int) -> list[NodeView]:
    nodes = []
    for i in range(size):
        labels = {"k3os.io/upgrade": "latest", "k3os.io/mode": "local"}
        notes: dict[str, str] = {}
        if i % 2:
            labels[done_label("os")] = HASH
        elif i % 50 == 0:
            notes[node_record_key("os")] = NodeUpgradeRecord(
                hash=HASH, phase="Applying", since=NOW
            ).encode()
        nodes.append(NodeView(f"node-{i:05d}", labels=labels, annotations=notes))
    return nodes


def plan() -> Plan:
    return Plan.model_validate(
        {
            "metadata": {"name": "os", "namespace": "k3os-system", "uid": "u", "generation": 1},
            "spec": {
                "version": "v2",
                "concurrency": 50,
                "nodeSelector": {
                    "matchExpressions": [{"key": "k3os.io/upgrade", "operator": "Exists"}]
                },
                "upgrade": {"image": "k3os-$(LATEST_VERSION).bundle", "args": ["--verify"]},
                "secrets": [{"name": "creds", "path": "/run/creds"}],
            },
            "status": {"latestHash": HASH},
        }
    )


def main() -> None:
    args = parse_args(__doc__ or "")
    seconds = 0.2 if args.quick else 2.0
    sizes = [100, 1000] if args.quick else [100, 1000, 5000]
    extra = {"machine": machine()}
    p = plan()
    selector = p.spec.node_selector
    assert selector is not None
    for size in sizes:
        nodes = fleet(size)
        base = f"selector/{size}"

        def match(nodes: list[NodeView] = nodes) -> None:
            for n in nodes:
                selector.matches(dict(n.labels))

        def decide(nodes: list[NodeView] = nodes) -> None:
            select_next_nodes(p, nodes, NOW)

        kept = PlanNodes()
        kept.sync(p, HASH, nodes)
        turn = [0]

        def decide_kept(
            nodes: list[NodeView] = nodes, kept: PlanNodes = kept, turn: list[int] = turn
        ) -> None:
            # Five nodes changed since the last pass (a new view each, as a new resourceVersion).
            first = turn[0] = (turn[0] + 5) % (len(nodes) - 5)
            changed = [dataclasses.replace(n) for n in nodes[first : first + 5]]
            kept.sync(p, HASH, changed)
            kept.decide(p, NOW)

        emit(BENCH, base, "latency", timed(match, seconds) * 1000, "ms", **extra)
        whole = f"select-next-nodes/{size}"
        emit(BENCH, whole, "latency", timed(decide, seconds) * 1000, "ms", baseline=base, **extra)
        emit(
            BENCH,
            f"plan-nodes/{size}",
            "latency",
            timed(decide_kept, seconds) * 1000,
            "ms",
            baseline=whole,
            **extra,
        )
    secrets = {"creds": {"token": "x" * 4096}}
    emit(
        BENCH,
        "plan-hash",
        "latency",
        timed(lambda: plan_hash(p, "v2", secrets), seconds) * 1e6,
        "us",
        baseline="selector/100",
        **extra,
    )
    local = {"hostname": "edge-1", "k3os": {"labels": {"site": "berlin"}}}
    for count in [1, 20]:
        configs = [
            NodeConfig.model_validate(
                {
                    "metadata": {"name": f"nc-{i:02d}"},
                    "spec": {"priority": i, "config": {"k3os": {"ntp_servers": [f"ntp{i}"]}}},
                }
            )
            for i in range(count)
        ]
        emit(
            BENCH,
            f"render/{count}-configs",
            "latency",
            timed(lambda c=configs: render_node_config({}, local, c), seconds) * 1e6,
            "us",
            baseline="selector/100",
            **extra,
        )


if __name__ == "__main__":
    main()
