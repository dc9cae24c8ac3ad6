"""Footprint benchmark: memory and idle CPU of `k3os server` (with its in-process agent) and of
`k3os agent` alone, after they have sat idle; and the agent's start-up time.

Figures (one JSON line each):
  bare-python/rss          a bare interpreter (`python -c ...` sleeping), MiB — the baseline
  bare-python/startup      `python -c pass` from exec to exit, s — the start-up baseline
  server+agent/rss         `k3os server` with its agent, SQLite, after the idle period, MiB
  server+agent/idle-cpu    its CPU over the idle period, % of one core
  agent/rss, agent/idle-cpu   `k3os agent` alone (joined with the node token, managing a
                           simulated installed root: config sync and upgrades armed)
  agent/startup            `k3os agent` exec → its Node Ready on the server (join included), s
  anchor/k3s-...           k3s's PUBLISHED figures (docs, resource profiling, k3s v1.26.5,
                           x86 c6id.xlarge, SQLite, 95th percentile) — constants, not measured
  goal/...                 server+agent <= 150 MiB, agent <= 50 MiB, idle CPU <= 1 % of a core
The idle period is 10 minutes (--quick: 1 minute, --smoke: 10 s; `idle_s` says which).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, machine
from _procstat import CpuWindow, rss_mb
from k3os.client import NotFoundError, connect_kubeconfig
from k3os.client.resources import NODES
from k3os.sim.images import build_sim_bundle, install_root, signing_key
from k3os.sim.server import start_server

BENCH = "footprint"
# Published by k3s (docs/reference/resource-profiling.md, k3s v1.26.5, AWS c6id.xlarge,
# kine/SQLite, 95th percentile of steady state). Not measured here.
K3S_SERVER_AGENT_MB = 1428.0
K3S_SERVER_AGENT_CPU = 5.0
K3S_AGENT_MB = 275.0
K3S_AGENT_CPU = 3.0
K3S_SOURCE = "k3s docs, resource profiling (v1.26.5, c6id.xlarge, SQLite, p95): published"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 minute idle instead of 10")
    parser.add_argument("--smoke", action="store_true", help="10 s idle (tests)")
    return parser.parse_args()


def bare_python() -> tuple[float, float]:
    """(RSS of a sleeping bare interpreter in MiB, wall time of `python -c pass` in s)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(1.0)
        rss = rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        runs.append(time.perf_counter() - start)
    return rss, sorted(runs)[len(runs) // 2]


async def wait_ready(kubeconfig: Path, node: str, limit: float) -> float:
    """Monotonic time at which `node` is Ready (polled every 50 ms)."""
    kube = connect_kubeconfig(kubeconfig)
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                obj = await kube.get(NODES, node)
            except NotFoundError:
                obj = {}
            conds = (obj.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                return time.monotonic()
            await asyncio.sleep(0.05)
        raise RuntimeError(f"node {node} not Ready within {limit:.0f}s")
    finally:
        await kube.aclose()


def main() -> None:
    args = parse()
    idle = 10.0 if args.smoke else 60.0 if args.quick else 600.0
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    bare_rss, bare_start = bare_python()
    with tempfile.TemporaryDirectory(prefix="k3os-bench-footprint-") as tmp:
        work = Path(tmp)
        server = start_server(work / "server", log_level="warning")
        agent: subprocess.Popen[bytes] | None = None
        try:
            signer = signing_key(work / "keys")
            bundle = build_sim_bundle(work / "build", signer, "v1.0.0", server.images)
            root = work / "node" / "root"
            install_root(root, bundle, signer, "fp-agent", {})
            token = (server.data_dir / "server" / "node-token").read_text().strip()
            cmd = [sys.executable, "-m", "k3os", "--log-level", "warning", "agent",
                   "--server", server.url, "--token", token, "--data-dir", str(work / "node"),
                   "--root", str(root), "--node-name", "fp-agent"]  # fmt: skip
            log = (work / "agent.log").open("wb")
            started = time.monotonic()
            agent = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            ready = asyncio.run(wait_ready(server.kubeconfig, "fp-agent", 120))
            startup = ready - started
            time.sleep(5)  # let both settle after the join
            server_cpu, agent_cpu = CpuWindow([server.proc.pid]), CpuWindow([agent.pid])
            load0 = os.getloadavg()[0]
            server_cpu.start()
            agent_cpu.start()
            time.sleep(idle)
            figures = {
                "server_cpu": server_cpu.stop(), "agent_cpu": agent_cpu.stop(),
                "server_rss": rss_mb(server.proc.pid), "agent_rss": rss_mb(agent.pid),
                "server_hwm": rss_mb(server.proc.pid, "VmHWM"),
                "agent_hwm": rss_mb(agent.pid, "VmHWM"),
            }  # fmt: skip
            if agent.poll() is not None:
                raise RuntimeError(f"the agent exited: {(work / 'agent.log').read_text()[-2000:]}")
        finally:
            if agent is not None and agent.poll() is None:
                agent.send_signal(signal.SIGTERM)
                agent.wait(30)
            server.stop()
    common = {"idle_s": idle, "mode": mode, "loadavg": [round(load0, 2),
              round(os.getloadavg()[0], 2)]}  # fmt: skip
    emit(BENCH, "bare-python/rss", "rss", bare_rss, "MiB", None, **machine())
    emit(BENCH, "bare-python/startup", "time", bare_start, "s", None)
    emit(BENCH, "server+agent/rss", "rss", figures["server_rss"], "MiB", "bare-python/rss",
         hwm_mb=round(figures["server_hwm"], 1), anchor_k3s_mb=K3S_SERVER_AGENT_MB,
         note="the in-process agent registers and heartbeats (no managed root off a k3os box)",
         **common)  # fmt: skip
    emit(BENCH, "server+agent/idle-cpu", "cpu", figures["server_cpu"], "% of a core", None,
         anchor_k3s_pct=K3S_SERVER_AGENT_CPU, **common)  # fmt: skip
    emit(BENCH, "agent/rss", "rss", figures["agent_rss"], "MiB", "bare-python/rss",
         hwm_mb=round(figures["agent_hwm"], 1), anchor_k3s_mb=K3S_AGENT_MB, **common)  # fmt: skip
    emit(BENCH, "agent/idle-cpu", "cpu", figures["agent_cpu"], "% of a core", None,
         anchor_k3s_pct=K3S_AGENT_CPU, **common)  # fmt: skip
    emit(BENCH, "agent/startup", "time", startup, "s", "bare-python/startup",
         note="exec to Node Ready, the join with the node token included (the join and the "
              "node settings run in child processes)")  # fmt: skip
    for case, value, unit in (
        ("anchor/k3s-server+agent/rss", K3S_SERVER_AGENT_MB, "MiB"),
        ("anchor/k3s-server+agent/cpu", K3S_SERVER_AGENT_CPU, "% of a core"),
        ("anchor/k3s-agent/rss", K3S_AGENT_MB, "MiB"),
        ("anchor/k3s-agent/cpu", K3S_AGENT_CPU, "% of a core"),
    ):
        emit(BENCH, case, "published", value, unit, None, measured=False, source=K3S_SOURCE)
    goals = (
        ("server+agent-rss", figures["server_rss"], 150.0, "server+agent/rss"),
        ("agent-rss", figures["agent_rss"], 50.0, "agent/rss"),
        ("server-idle-cpu", figures["server_cpu"], 1.0, "server+agent/idle-cpu"),
        ("agent-idle-cpu", figures["agent_cpu"], 1.0, "agent/idle-cpu"),
    )
    for name, value, target, case in goals:
        emit(BENCH, f"goal/{name}", "value", value, "", case, target=target, met=value <= target,
             mode=mode)  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
