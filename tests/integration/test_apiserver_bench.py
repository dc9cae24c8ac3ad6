"""`scripts/bench api --quick` runs both datastores and prints well-formed figures; with
`--compare REV` it also runs REV's server (here HEAD's) beside this tree's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_bench_api_quick_prints_json_figures() -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "bench"), "api", "--quick", "--compare", "HEAD", "--rounds", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    cases = {row["case"] for row in rows}
    for store in ("sqlite", "etcd"):
        for case in ("create/1", "create/32", "get/1", "list/1000", "mutate/200", "watch/50"):
            assert f"{store}/{case}" in cases
    assert {row["baseline"] for row in rows} - {None} <= cases
    assert {"goal/mutate-p99-ms", "goal/create32-per-s", "goal/watch-p99-ms"} <= cases
    for case in ("create/32", "watch/50"):
        assert {f"compare/new/{case}", f"compare/HEAD/{case}"} <= cases
    lean = next(row for row in rows if row["case"] == "sqlite/create/32")
    assert lean["procs"] == 2 and lean["server_cpu_s"] > 0 and lean["client_cpu_s"] > 0
    writes = {row["case"]: row for row in rows if row["metric"] == "server_cpu_ms_per_op"}
    for store in ("sqlite", "etcd"):
        for shape in ("patch-node-status", "patch-node-annotation", "put-lease", "create-event"):
            row = writes[f"{store}/{shape}/1"]
            assert row["value"] > 0 and row["baseline"] == f"{store}/create-configmap/1"
        assert writes[f"{store}/patch-node-status/1-watched-50"]["watchers"] == 50
