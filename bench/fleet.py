"""Fleet benchmark: N simulated nodes against a real `k3os server` over TLS, SQLite and etcd.

Each simulated node (bench/_fleetnode.py) makes the real agent's API calls at the agent's
rates through the project's own client: `k3os.agent.node.NodeKeeper` renews its Lease every
10 s (a PUT of the Lease as it last wrote it; a merge patch after a start) and posts node
status every 60 s (one JSON patch that tests Ready is unchanged: no read), and two
`k3os.client` informers watch its Node and its RenderedNodeConfig by field selector (the
Node's from what registration wrote, the RenderedNodeConfig's by a streamed list). Each
node has its own `system:node:<name>` certificate and TLS connections (so authentication,
the Node authorizer and NodeRestriction run as for real agents). Nodes live as asyncio tasks,
up to 250 per worker process, joining at 50 nodes/s, each starting its heartbeats at a
random phase of the interval. The server runs its controllers (NodeConfig renders one
config per node) without its own agent.

Figures, for each datastore D and fleet size N (the fleet grows in place: 100, 500, 1000):
  D/N/server-cpu        the k3os server process, % of one core over the window
  D/N/server-rss        its resident memory, MiB (peak in `hwm_mb`)
  D/N/latency/VERB      client-side request latency p50 (p99 in `p99_ms`) per verb
  D/N/request-rate      requests/s the fleet made, beside the rate expected
  D/N/client-cpu        the load generator's CPU, % of one core (all workers)
  etcd/N/etcd-cpu, etcd/N/etcd-rss   the etcd process (etcd runs beside the server)
  D/N/config-fanout     a new NodeConfig matching every node → seen by every node, s
  D/rollout/N           a Plan over N nodes: total time ÷ ideal (N / concurrency × 1 s),
                        the middle of `--rollouts` runs (full: 3), all in `ratio_runs`;
                        `machine_cpu_ms_per_node` the server's and the load generator's
                        CPU per upgraded node, `machine_cpu_ms_per_node_for_goal` what it
                        would have to be for 1.2x, the machine as busy (an estimate)
  goal/rollout-efficiency   the SQLite rollout ratio against the goal 1.2
SQLite figures name the same case on etcd as their baseline; etcd figures name the
smallest fleet of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, machine, percentile, progress
from _procstat import CpuWindow, cpu_seconds, find_pid, rss_mb
from _profile import profiled
from k3os.client import ClientError, Kube, NotFoundError, connect_kubeconfig
from k3os.client.resources import EVENTS, ResourceType
from k3os.security.pki import issue, load_pair, save_pair
from k3os.sim.server import ServerProcess, start_server
from store import etcd_server

HERE = Path(__file__).resolve().parent
BENCH = "fleet"
GOAL_RATIO = 1.2  # issue 10: a rollout within 1.2x its ideal time
PLANS = ResourceType("upgrade.cattle.io", "v1", "plans", "Plan", True)
NODECONFIGS = ResourceType("k3os.io", "v1", "nodeconfigs", "NodeConfig", False)
PER_WORKER = 250
JOIN_RATE = 50.0


class Sizes:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.fleets = {"full": [100, 500, 1000], "quick": [50, 100], "smoke": [10]}[mode]
        # At least one Lease interval, so every node renews its Lease in it.
        self.window = {"full": 70.0, "quick": 25.0, "smoke": 10.5}[mode]
        self.settle = {"full": 10.0, "quick": 5.0, "smoke": 1.0}[mode]
        self.concurrency = {"full": 100, "quick": 10, "smoke": 5}[mode]
        # Rollouts a run makes at the largest fleet, one after another (each to a new
        # version): the figure is the middle one, all of them beside it (`ratio_runs`).
        self.rollouts = {"full": 3, "quick": 1, "smoke": 2}[mode]
        self.upgrade_seconds = 1.0
        self.renew = 10.0
        self.status = 60.0
        self.stores = ["etcd", "sqlite"]
        self.split = False
        self.api_workers = 0
        # After the runs above: the largest SQLite fleet again on a server with this many
        # API workers (short steady window, then the rollout), beside the one-process figures.
        self.worker_runs = [1]
        self.agent_calls = "agent"
        self.client = "lean"
        self.fleet_nice = 0


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50 and 100 nodes, 25 s windows")
    parser.add_argument("--smoke", action="store_true", help="10 nodes, a few seconds (tests)")
    parser.add_argument("--store", choices=["etcd", "sqlite"], help="only this datastore")
    parser.add_argument("--nodes", help="fleet sizes instead of the mode's, e.g. 300,600")
    parser.add_argument("--concurrency", type=int, help="the rollout Plan's concurrency")
    parser.add_argument("--split", action="store_true",
                        help="controllers in their own process")  # fmt: skip
    parser.add_argument("--api-workers", type=int, default=0,
                        help="`k3os server --api-workers`: processes serving the API beside "
                        "the main one (their CPU and RSS count as the server's)")  # fmt: skip
    parser.add_argument("--no-worker-runs", action="store_true",
                        help="skip the extra SQLite run with API workers")  # fmt: skip
    parser.add_argument(
        "--window",
        type=float,
        help="seconds of the steady window (at least the 10 s Lease interval)",
    )
    parser.add_argument("--profile", metavar="DIR", help="py-spy the server at the largest N "
                        "(and, in the first rollout, each load-generator worker: "
                        "fleet-<i>.rollout.raw)")  # fmt: skip
    parser.add_argument("--rollouts", type=int, metavar="K",
                        help="rollouts one after another at the largest N, each to a new "
                        "version; the middle one is reported (full: 3)")  # fmt: skip
    parser.add_argument("--agent-calls", choices=["agent", "keep-watches", "outcome"],
                        default="agent",
                        help="a simulated upgrade's API calls: the real agent's (default: "
                        "its two Events, its registration, status, Lease and watches after "
                        "the reboot, the outcome), the same with the watch connections kept "
                        "through the reboot (no real reboot can: what reconnecting costs), "
                        "or the outcome only (comparisons)")  # fmt: skip
    parser.add_argument("--fleet-nice", type=int, default=0, metavar="N",
                        help="run the simulated fleet at this nice level (10: the server "
                        "comes first for the CPU, as a fleet on its own machines would "
                        "leave it)")  # fmt: skip
    parser.add_argument("--client", choices=["lean", "lean-h1", "httpx"], default="lean",
                        help="the simulated agents' HTTP layer under k3os.client.Kube: bare "
                        "TLS with HTTP/2 as the agent speaks it (default), the same with "
                        "HTTP/1.1 and a connection per watch (lean-h1, a comparison), or "
                        "httpx2 as `k3os agent` uses")  # fmt: skip
    return parser.parse_args()


def node_name(i: int) -> str:
    return f"sim-{i:04d}"


def issue_certs(server: ServerProcess, certs: Path, count: int) -> None:
    certs.mkdir(parents=True, exist_ok=True)
    ca = load_pair(server.tls / "ca.crt", server.tls / "ca.key")
    (certs / "ca.crt").write_bytes((server.tls / "ca.crt").read_bytes())
    for i in range(count):
        name = node_name(i)
        cert, key = issue(ca, f"system:node:{name}", organizations=["system:nodes"], client=True)
        assert key is not None
        save_pair(cert, key, certs / f"{name}.crt", certs / f"{name}.key")


NODE_EVENTS = frozenset(
    {"registered", "seen", "asked", "rebooted", "connected", "back", "upgraded"}
)
"""The simulated nodes' events in the samples files (bench/_fleetnode.py says when each
is written); every other line is a timed request."""


class Samples:
    """Tails the workers' sample files: request latencies and node events."""

    def __init__(self) -> None:
        self.files: dict[Path, int] = {}
        self.requests: list[tuple[float, str, str, float]] = []
        self.events: dict[str, dict[str, list[tuple[float, str]]]] = defaultdict(
            lambda: defaultdict(list)
        )

    def add(self, path: Path) -> None:
        self.files.setdefault(path, 0)

    def poll(self) -> None:
        for path, offset in self.files.items():
            if not path.exists():
                continue
            with path.open() as f:
                f.seek(offset)
                data = f.read()
            end = data.rfind("\n") + 1
            self.files[path] = offset + end
            for line in data[:end].splitlines():
                parts = line.split()
                if len(parts) != 4:
                    continue
                t = float(parts[0])
                if parts[1] in NODE_EVENTS:
                    self.events[parts[1]][parts[2]].append((t, parts[3]))
                else:
                    self.requests.append((t, parts[1], parts[2], float(parts[3])))

    def nodes_with(self, what: str, after: float = 0.0) -> dict[str, float]:
        """Node → first time of `what` after `after`."""
        out = {}
        for node, seen in self.events[what].items():
            times = [t for t, _ in seen if t >= after]
            if times:
                out[node] = min(times)
        return out

    def first_after(self, what: str, since: dict[str, float]) -> dict[str, float]:
        """Node → first time of `what` at or after that node's time in `since`."""
        out = {}
        for node, start in since.items():
            times = [t for t, _ in self.events[what].get(node, ()) if t >= start]
            if times:
                out[node] = min(times)
        return out


class Workers:
    def __init__(self, url: str, certs: Path, work: Path, sizes: Sizes) -> None:
        self.url, self.certs, self.work, self.sizes = url, certs, work, sizes
        self.procs: list[subprocess.Popen[bytes]] = []
        self.samples = Samples()

    def start(self, names: list[str]) -> None:
        chunks = math.ceil(len(names) / PER_WORKER)
        for c in range(chunks):
            part = names[c::chunks]
            out = self.work / f"worker-{len(self.procs)}.samples"
            self.samples.add(out)
            log = (self.work / f"worker-{len(self.procs)}.log").open("ab")
            cmd = [sys.executable, str(HERE / "_fleetnode.py"), "--server", self.url,
                   "--certs", str(self.certs), "--names", ",".join(part), "--samples", str(out),
                   "--renew", str(self.sizes.renew), "--status", str(self.sizes.status),
                   "--upgrade-seconds", str(self.sizes.upgrade_seconds),
                   "--agent-calls", self.sizes.agent_calls, "--client", self.sizes.client,
                   "--join-rate", str(JOIN_RATE / chunks)]  # fmt: skip
            if self.sizes.fleet_nice:
                cmd = ["nice", "-n", str(self.sizes.fleet_nice), *cmd]
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def check(self) -> None:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"a fleet worker exited ({p.returncode}); see {self.work}")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def wait_for(what: str, check: Any, limit: float, workers: Workers) -> None:
    deadline = time.monotonic() + limit
    while not check():
        workers.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)
        workers.samples.poll()


def schedstat(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of a process's main thread."""
    ran, waited, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(ran) / 1e9, int(waited) / 1e9


def verb_figures(
    rows: list[tuple[float, str, str, float]], *, by_resource: bool = False
) -> dict[str, list[float]]:
    """Request times (ms) by verb, or by "verb resource"."""
    grouped: dict[str, list[float]] = defaultdict(list)
    for _, verb, resource, ms in rows:
        grouped[f"{verb} {resource}" if by_resource else verb].append(ms)
    return grouped


async def fanout(kube: Kube, workers: Workers, n: int, limit: float) -> list[float]:
    """A NodeConfig for every node: seconds until each node's watch sees its new config."""
    body = {"apiVersion": "k3os.io/v1", "kind": "NodeConfig",
            "metadata": {"name": f"fleet-bench-{n}"},
            "spec": {"config": {"k3os": {"ntp_servers": [f"ntp{n}.example.com"]}}}}  # fmt: skip
    t0 = time.time()
    await kube.create(NODECONFIGS, body)
    await wait_for("config fan-out", lambda: len(workers.samples.nodes_with("seen", t0)) >= n,
                   limit, workers)  # fmt: skip
    seen = sorted(t - t0 for t in workers.samples.nodes_with("seen", t0).values())
    # Let the controller take in every node's report (status, Events) before what comes
    # next is measured: the rollout is timed on its own, not on the fan-out's tail.
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = (await kube.get(NODECONFIGS, f"fleet-bench-{n}")).get("status") or {}
        if status.get("updated") == n:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2.0)  # its per-node Events trail the count a little
    return seen


async def rollout(
    kube: Kube, workers: Workers, n: int, sizes: Sizes, round_: int = 0
) -> dict[str, float]:
    """One rollout of the Plan over the fleet: the first round creates it, each later one
    moves its version on (every node upgrades again), timed from that write to the Plan's
    `Complete` at the new version."""
    version = f"v9.9.{9 + round_}"
    plan = {"apiVersion": "upgrade.cattle.io/v1", "kind": "Plan",
            "metadata": {"name": "fleet-bench", "namespace": "default"},
            "spec": {"concurrency": sizes.concurrency, "version": version,
                     "nodeSelector": {"matchLabels": {"kubernetes.io/os": "linux"}},
                     "upgrade": {"image": "k3os-$(LATEST_VERSION).bundle"}}}  # fmt: skip
    writes = {"plan": 0}

    async def count_plan_writes() -> None:
        since = ""  # a watch that ends or fails goes on from the last version it saw
        while True:
            try:
                by_name = "metadata.name=fleet-bench"
                async for event in kube.watch(PLANS, "default", resource_version=since,
                                              field_selector=by_name):  # fmt: skip
                    since = event.resource_version or since
                    writes["plan"] += event.type == "MODIFIED"
            except ClientError:
                await asyncio.sleep(0.2)

    def plan_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in events
                if (e.get("source") or {}).get("component") == "k3os-plan-controller"]  # fmt: skip

    events_before = plan_events((await kube.list(EVENTS, "default")).items) if round_ else []
    counter = asyncio.create_task(count_plan_writes())
    await asyncio.sleep(0.2)  # the watch is open before the Plan exists (or changes)
    t0 = time.time()
    if round_ == 0:
        await kube.create(PLANS, plan)
    else:
        await kube.patch(PLANS, "fleet-bench", {"spec": {"version": version}}, namespace="default")
        writes["plan"] -= 1  # our own write, not the controller's
    deadline = time.monotonic() + max(300.0, 20 * n / sizes.concurrency)
    while True:
        obj = await kube.get(PLANS, "fleet-bench", "default")
        status = obj.get("status") or {}
        conds = status.get("conditions") or []
        if status.get("latestVersion") == version and any(
            c.get("type") == "Complete" and c.get("status") == "True" for c in conds
        ):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"rollout not complete: {conds}")
        workers.check()
        await asyncio.sleep(0.1)
    total = time.time() - t0
    await asyncio.sleep(0.5)  # the last status write's event
    counter.cancel()
    seen_before = {(e.get("metadata") or {}).get("uid") for e in events_before}
    ours = [e for e in plan_events((await kube.list(EVENTS, "default")).items)
            if (e.get("metadata") or {}).get("uid") not in seen_before]  # fmt: skip
    on_nodes = sum((e.get("involvedObject") or {}).get("kind") == "Node" for e in ours)
    # Every outcome is written (the plan is complete); the workers flush samples every 0.5 s.
    await wait_for("the upgrade samples", lambda: len(workers.samples.nodes_with(
        "upgraded", t0)) >= n, 30, workers)  # fmt: skip
    samples = workers.samples
    upgraded = samples.nodes_with("upgraded", t0)
    asked, rebooted = samples.nodes_with("asked", t0), samples.nodes_with("rebooted", t0)
    back = samples.nodes_with("back", t0)
    ideal = n / sizes.concurrency * sizes.upgrade_seconds
    first = min(upgraded.values()) - t0 if upgraded else math.nan
    return {"total_s": total, "ideal_s": ideal, "upgraded": len(upgraded),
            "first_outcome_s": first, "ratio": total / ideal,
            "plan_writes": writes["plan"], "plan_events": len(ours) - on_nodes,
            "node_events": on_nodes,
            "tail_s": t0 + total - max(upgraded.values()) if upgraded else math.nan,
            **timeline(asked, upgraded, sizes),
            **reconnects(asked, rebooted, samples.first_after("connected", rebooted), back,
                         upgraded, sizes),
            **slots(asked, rebooted, back, upgraded, sizes)}  # fmt: skip


def timeline(asked: dict[str, float], upgraded: dict[str, float], sizes: Sizes) -> dict[str, Any]:
    """Where a rollout's time goes, per concurrency slot: `agent` is a node's request seen →
    its outcome written (the simulated upgrade time plus the agent's write); `handoff` is an
    outcome written → the next node's request seen (the controller's share, plus watch
    delivery), pairing the k-th outcome with the (k + concurrency)-th request."""
    agent = sorted(upgraded[n] - asked[n] for n in upgraded if n in asked)
    starts, ends = sorted(asked.values()), sorted(upgraded.values())
    c = sizes.concurrency
    handoff = sorted(starts[k] - ends[k - c] for k in range(c, min(len(starts), len(ends) + c)))
    return {**durations("agent", agent), **durations("handoff", handoff)}


def durations(name: str, values: list[float]) -> dict[str, float]:
    """`<name>_p50_s`, `_p90_s`, `_mean_s` and `_max_s` of sorted `values` (none if empty)."""
    if not values:
        return {}
    return {f"{name}_p50_s": round(percentile(values, 50), 3),
            f"{name}_p90_s": round(percentile(values, 90), 3),
            f"{name}_mean_s": round(sum(values) / len(values), 3),
            f"{name}_max_s": round(values[-1], 3)}  # fmt: skip


def reconnects(asked: dict[str, float], rebooted: dict[str, float],
               connected: dict[str, float], back: dict[str, float],
               upgraded: dict[str, float], sizes: Sizes) -> dict[str, Any]:  # fmt: skip
    """The agent's part after its reboot: `reconnect` is the simulated upgrade time over →
    the new boot's registration and first Lease renewal answered (its new TLS connection
    and two requests; the outcome waits for the renewal), of which `connect` is the TLS
    connection (TCP and the handshake, as the client sees it done), and `answer` that →
    its outcome written. The first wave's nodes (the first `concurrency` asked) reboot
    together, so their reconnects queue behind each other's handshakes: reported apart,
    with the time its last outcome came after its first (`first_wave_spread_s`)."""
    both = [n for n in rebooted if n in back]
    if not both:  # `--agent-calls outcome`: no reboot
        return {}
    first = sorted(asked, key=asked.__getitem__)[: sizes.concurrency]
    linked = [n for n in both if n in connected]  # `keep-watches` or httpx: no new connection
    out: dict[str, Any] = {
        **durations("reconnect", sorted(back[n] - rebooted[n] for n in both)),
        **durations("connect", sorted(connected[n] - rebooted[n] for n in linked)),
        **durations("answer", sorted(upgraded[n] - back[n] for n in both if n in upgraded)),
        **durations("first_wave_reconnect",
                    sorted(back[n] - rebooted[n] for n in first if n in both)),
        **durations("first_wave_connect",
                    sorted(connected[n] - rebooted[n] for n in first if n in linked)),
    }  # fmt: skip
    done = [upgraded[n] for n in first if n in upgraded]
    if done:
        out["first_wave_spread_s"] = round(max(done) - min(done), 3)
    return out


def slots(asked: dict[str, float], rebooted: dict[str, float], back: dict[str, float],
          upgraded: dict[str, float], sizes: Sizes) -> dict[str, Any]:  # fmt: skip
    """The rollout as `concurrency` chains of nodes, one per slot: the first `concurrency`
    nodes asked open them, and the k-th node asked after them takes the slot of the k-th
    outcome. The rollout ends with its slowest chain, so beside the mean figures:
    `slot_end_spread_s` (the last chain's end after the first's) and, for the chain that
    ended last, its first node's reconnect (`last_slot_first_reconnect_s`: the first wave's
    queue, carried by that chain to the end) and its nodes' time past the simulated upgrade
    (`last_slot_overhead_s`: from its first request to its last outcome, less one upgrade
    time per node)."""
    c = sizes.concurrency
    order = sorted((n for n in asked if n in upgraded), key=asked.__getitem__)
    ends = sorted(upgraded, key=upgraded.__getitem__)
    if len(order) <= c:
        return {}
    chains = [[n] for n in order[:c]]
    slot = {n: i for i, n in enumerate(order[:c])}
    for k, n in enumerate(order[c:]):
        if ends[k] not in slot:  # an outcome before its node was asked: no chains to tell
            return {}
        slot[n] = slot[ends[k]]
        chains[slot[n]].append(n)
    last = max(chains, key=lambda chain: upgraded[chain[-1]])
    first_end = min(upgraded[chain[-1]] for chain in chains)
    out = {
        "slot_end_spread_s": round(upgraded[last[-1]] - first_end, 3),
        "last_slot_overhead_s": round(
            upgraded[last[-1]] - asked[last[0]] - len(last) * sizes.upgrade_seconds, 3
        ),
    }
    if last[0] in rebooted and last[0] in back:
        out["last_slot_first_reconnect_s"] = round(back[last[0]] - rebooted[last[0]], 3)
    return out


async def measured_rollout(
    kube: Kube,
    workers: Workers,
    n: int,
    sizes: Sizes,
    round_: int,
    server_pids: list[int],
    steady_cpu: float,
    rollout_profile: Path | None,
) -> dict[str, Any]:
    """One rollout (`rollout`) with what the server, its event loops and the load generator
    spent while it ran. `server_pids`: its main process first, then its API workers;
    `steady_cpu`: the server's % of a core in the steady window."""
    samples = workers.samples
    cpu0 = sum(cpu_seconds(p) for p in server_pids)
    sched0 = schedstat(server_pids[0])
    wsched0 = {p: schedstat(p) for p in server_pids[1:]}
    fleet_cpu = CpuWindow(workers.pids)
    fleet_cpu.start()
    r0 = time.time()
    with ExitStack() as profiles:
        profiles.enter_context(profiled(server_pids[0], rollout_profile))
        if rollout_profile is not None:  # the load generator too, one file per worker
            for i, pid in enumerate(workers.pids):
                out = rollout_profile.with_name(f"fleet-{i}.rollout.raw")
                profiles.enter_context(profiled(pid, out))
        ro: dict[str, Any] = await rollout(kube, workers, n, sizes, round_)
    samples.poll()
    r1 = r0 + ro["total_s"]
    during = [r for r in samples.requests if r0 <= r[0] <= r1]
    # What the nodes' requests took while the rollout ran (p50 ms, by verb and
    # resource): the agent's share of a slot is its sequential calls.
    by_call = verb_figures(during, by_resource=True)
    ro["request_p50_ms"] = {k: round(percentile(v, 50), 1) for k, v in sorted(by_call.items())}
    ro["request_counts"] = {k: len(v) for k, v in sorted(by_call.items())}
    used = sum(cpu_seconds(p) for p in server_pids) - cpu0
    # The load generator's share of the machine while the rollout ran (the
    # simulated nodes' own TLS, HTTP and watch handling).
    ro["client_cpu"] = round(fleet_cpu.stop(), 1)
    # The event loop's thread: how much of the rollout it ran, and how much it
    # was ready to run but waited for a CPU (others' work on the same cores).
    sched1 = schedstat(server_pids[0])
    ran, waited = sched1[0] - sched0[0], sched1[1] - sched0[1]
    ro["loop_running"] = ran / ro["total_s"]
    ro["loop_waiting_for_cpu"] = waited / ro["total_s"]
    if wsched0:
        # The API workers' threads likewise (their sum).
        wsched1 = {p: schedstat(p) for p in wsched0}
        wran = sum(wsched1[p][0] - s[0] for p, s in wsched0.items())
        wwaited = sum(wsched1[p][1] - s[1] for p, s in wsched0.items())
        ro["workers_running"] = wran / ro["total_s"]
        ro["workers_waiting_for_cpu"] = wwaited / ro["total_s"]
    # The server's CPU per upgraded node, and net of what the fleet's heartbeats
    # cost it anyway (the steady window's rate over the rollout's time).
    ro["server_cpu_ms_per_node"] = 1000 * used / n
    steady = steady_cpu / 100 * ro["total_s"]
    ro["server_cpu_ms_per_node_net"] = 1000 * (used - steady) / n
    ro["server_busy"] = used / ro["total_s"]
    # The rollout as throughput: the machine's CPU per upgraded node, server and load
    # generator together, beside what it would have to be for the goal (1.2x the ideal)
    # with the machine as busy as it was in this run (an estimate, not a measurement).
    fleet_used = ro["client_cpu"] / 100 * ro["total_s"]
    busy = (used + fleet_used) / ro["total_s"]
    ro["machine_cpu_ms_per_node"] = 1000 * (used + fleet_used) / n
    ro["machine_cpu_ms_per_node_for_goal"] = 1000 * GOAL_RATIO * ro["ideal_s"] * busy / n
    ro["loadavg"] = round(os.getloadavg()[0], 2)
    return ro


async def run_store(store: str, endpoint: str, work: Path, sizes: Sizes,
                    profile: Path | None) -> list[dict[str, Any]]:  # fmt: skip
    results: list[dict[str, Any]] = []
    extra = ["--disable-agent"] + (["--datastore-endpoint", endpoint] if endpoint else [])
    extra += ["--disable-controller-manager"] if sizes.split else []
    extra += ["--api-workers", str(sizes.api_workers)] if sizes.api_workers else []
    server = start_server(work / "server", extra, log_level="warning")
    controllers: subprocess.Popen[bytes] | None = None
    if sizes.split:
        cm_log = (work / "controller-manager.log").open("ab")
        controllers = subprocess.Popen(  # noqa: ASYNC220 (started once, before the fleet)
            [sys.executable, "-m", "k3os", "--log-level", "warning", "controller-manager",
             "--kubeconfig", str(server.kubeconfig)],
            stdout=cm_log, stderr=subprocess.STDOUT)  # fmt: skip
    etcd_pid = find_pid(f"--data-dir={work / 'etcd-data' / 'etcd'}") if endpoint else None
    workers = Workers(server.url, work / "certs", work, sizes)
    kube = connect_kubeconfig(server.kubeconfig, timeout=60)
    try:
        issue_certs(server, work / "certs", max(sizes.fleets))
        started = 0
        for n in sizes.fleets:
            workers.start([node_name(i) for i in range(started, n)])
            started = n
            samples = workers.samples

            def ready(n: int = n, samples: Samples = samples) -> bool:
                joined = len(samples.events["registered"]) >= n
                return joined and len(samples.nodes_with("seen")) >= n

            await wait_for(f"{n} nodes to join", ready, 120 + n / 5, workers)
            progress(BENCH, f"{store}: {n} nodes joined; measuring {sizes.window:.0f} s")
            await asyncio.sleep(sizes.settle)
            # The server is its main process and its API workers, if it has any.
            server_pids = [server.proc.pid, *server.api_workers()]
            server_cpu, client_cpu = CpuWindow(server_pids), CpuWindow(workers.pids)
            cm_cpu = CpuWindow([controllers.pid] if controllers else [])
            etcd_cpu = CpuWindow([etcd_pid] if etcd_pid else [])
            load0 = os.getloadavg()[0]
            t0 = time.time()
            for w in (server_cpu, client_cpu, etcd_cpu, cm_cpu):
                w.start()
            last = n == max(sizes.fleets)
            with profiled(server.proc.pid, profile if last else None):
                await asyncio.sleep(sizes.window)
            t1 = time.time()
            row = {"store": store, "n": n, "window_s": round(t1 - t0, 1),
                   "server_cpu": server_cpu.stop(), "client_cpu": client_cpu.stop(),
                   "etcd_cpu": etcd_cpu.stop() if etcd_pid else None,
                   "cm_cpu": cm_cpu.stop() if controllers else None,
                   "rss": sum(rss_mb(p) for p in server_pids),
                   "hwm": sum(rss_mb(p, "VmHWM") for p in server_pids),
                   "etcd_rss": rss_mb(etcd_pid) if etcd_pid else None,
                   "loadavg": [round(load0, 2), round(os.getloadavg()[0], 2)]}  # fmt: skip
            samples.poll()
            window = [r for r in samples.requests if t0 <= r[0] <= t1]
            row["rate"] = len(window) / (t1 - t0)
            row["expected_rate"] = n * (1 / sizes.renew + 1 / sizes.status)
            row["verbs"] = verb_figures(window)
            progress(
                BENCH,
                f"{store}/{n}: server {row['server_cpu']:.1f} % of a core, "
                f"{row['rate']:.0f} requests/s",
            )
            if last:
                row["fanout"] = await fanout(kube, workers, n, 120 + n / 5)
                progress(BENCH, f"{store}/{n}: a new config seen by every node; rollouts next")
                rollout_profile = profile.with_suffix(".rollout.raw") if profile else None
                runs = []
                for round_ in range(sizes.rollouts):
                    if round_:
                        await asyncio.sleep(sizes.settle)  # the last one's trailing writes
                    runs.append(await measured_rollout(
                        kube, workers, n, sizes, round_, server_pids, row["server_cpu"],
                        rollout_profile if round_ == 0 else None))  # fmt: skip
                    last_run = runs[-1]
                    progress(
                        BENCH,
                        f"{store}: rollout {round_ + 1}/{sizes.rollouts} over {n} "
                        f"nodes: {last_run['ratio']:.2f}x ideal ({last_run['total_s']:.1f} s)",
                    )
                # The middle run (of an even count, the slower of the two middle ones).
                middle = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]
                row["rollout"] = {**middle, "ratio_runs": [round(r["ratio"], 3) for r in runs]}
            results.append(row)
    finally:
        workers.stop()
        await kube.aclose()
        if controllers is not None:
            controllers.send_signal(signal.SIGTERM)
            controllers.wait(30)
        server.stop()
    return results


def report(results: list[dict[str, Any]], sizes: Sizes) -> None:
    with_workers = [r for r in results if r.get("api_workers")]
    results = [r for r in results if not r.get("api_workers")]
    by = {(r["store"], r["n"]): r for r in results}
    first = min(sizes.fleets)
    stores = [s for s in ("etcd", "sqlite") if any(k[0] == s for k in by)]

    def has(store: str, n: int, case: str) -> bool:
        """Whether that run emits `case` (a verb may not occur in a short window)."""
        r = by.get((store, n))
        if r is None:
            return False
        if case.startswith("latency/"):
            return case.removeprefix("latency/") in r["verbs"]
        if case.startswith("etcd-"):
            return r["etcd_cpu"] is not None
        return case != "config-fanout" or "fanout" in r

    def base(store: str, n: int, case: str) -> str | None:
        if store == "sqlite" and has("etcd", n, case):
            return f"etcd/{n}/{case}"
        if n != first and has(store, first, case):
            return f"{store}/{first}/{case}"
        return None

    info: dict[str, object] = {**machine(), "mode": sizes.mode, "split": sizes.split,
                               "api_workers": sizes.api_workers}  # fmt: skip
    for store in stores:
        for n in sizes.fleets:
            r = by.get((store, n))
            if r is None:
                continue
            common = {"nodes": n, "window_s": r["window_s"], "loadavg": r["loadavg"]}
            emit(BENCH, f"{store}/{n}/server-cpu", "cpu", r["server_cpu"], "% of a core",
                 base(store, n, "server-cpu"), per_node=r["server_cpu"] / n,
                 **common, **info)  # fmt: skip
            info = {}
            emit(BENCH, f"{store}/{n}/server-rss", "rss", r["rss"], "MiB",
                 base(store, n, "server-rss"), hwm_mb=round(r["hwm"], 1), **common)  # fmt: skip
            for verb, ms in sorted(r["verbs"].items()):
                emit(BENCH, f"{store}/{n}/latency/{verb}", "p50", percentile(ms, 50), "ms",
                     base(store, n, f"latency/{verb}"), p99_ms=round(percentile(ms, 99), 3),
                     count=len(ms), **common)  # fmt: skip
            emit(BENCH, f"{store}/{n}/request-rate", "rate", r["rate"], "requests/s", None,
                 expected=round(r["expected_rate"], 1), **common)  # fmt: skip
            emit(BENCH, f"{store}/{n}/client-cpu", "cpu", r["client_cpu"], "% of a core", None,
                 note="the load generator (all worker processes)", **common)  # fmt: skip
            if r["cm_cpu"] is not None:
                emit(BENCH, f"{store}/{n}/controllers-cpu", "cpu", r["cm_cpu"], "% of a core",
                     None, note="k3os controller-manager in its own process", **common)  # fmt: skip
            if r["etcd_cpu"] is not None:
                emit(BENCH, f"{store}/{n}/etcd-cpu", "cpu", r["etcd_cpu"], "% of a core",
                     base(store, n, "etcd-cpu"), **common)  # fmt: skip
                emit(BENCH, f"{store}/{n}/etcd-rss", "rss", r["etcd_rss"], "MiB",
                     base(store, n, "etcd-rss"), **common)  # fmt: skip
            if "fanout" in r:
                f = r["fanout"]
                emit(BENCH, f"{store}/{n}/config-fanout", "p50", percentile(f, 50), "s",
                     base(store, n, "config-fanout"), p99_s=round(percentile(f, 99), 3),
                     max_s=round(f[-1], 3), nodes=n)  # fmt: skip
            if "rollout" in r:
                ro = r["rollout"]
                emit(BENCH, f"{store}/rollout/{n}", "ratio", ro["ratio"], "× ideal",
                     f"etcd/rollout/{n}" if store == "sqlite" and ("etcd", n) in by else None,
                     concurrency=sizes.concurrency, upgrade_s=sizes.upgrade_seconds,
                     agent_calls=sizes.agent_calls, client=sizes.client,
                     fleet_nice=sizes.fleet_nice,
                     **{k: round(v, 3) if isinstance(v, float) else v
                        for k, v in ro.items() if k != "ratio"})  # fmt: skip
    for r in with_workers:
        n, count = r["n"], r["api_workers"]
        label = f"sqlite/{n}/api-workers-{count}"
        common = {"nodes": n, "window_s": r["window_s"], "loadavg": r["loadavg"],
                  "api_workers": count}  # fmt: skip
        emit(BENCH, f"{label}/server-cpu", "cpu", r["server_cpu"], "% of a core",
             f"sqlite/{n}/server-cpu" if ("sqlite", n) in by else None,
             note="the main process and its API workers", **common)  # fmt: skip
        emit(BENCH, f"{label}/server-rss", "rss", r["rss"], "MiB",
             f"sqlite/{n}/server-rss" if ("sqlite", n) in by else None,
             hwm_mb=round(r["hwm"], 1), **common)  # fmt: skip
        ro = r["rollout"]
        emit(BENCH, f"sqlite/rollout/{n}/api-workers-{count}", "ratio", ro["ratio"], "× ideal",
             f"sqlite/rollout/{n}" if ("sqlite", n) in by else None,
             concurrency=sizes.concurrency, upgrade_s=sizes.upgrade_seconds,
             agent_calls=sizes.agent_calls, client=sizes.client, fleet_nice=sizes.fleet_nice,
             api_workers=count,
             **{k: round(v, 3) if isinstance(v, float) else v
                for k, v in ro.items() if k != "ratio"})  # fmt: skip
    goal_store = "sqlite" if ("sqlite", max(sizes.fleets)) in by else stores[0]
    ro = by[(goal_store, max(sizes.fleets))]["rollout"]
    case = f"{goal_store}/rollout/{max(sizes.fleets)}"
    for r in with_workers:
        if r["n"] == max(sizes.fleets) and r["rollout"]["ratio"] < ro["ratio"]:
            ro = r["rollout"]
            case = f"sqlite/rollout/{r['n']}/api-workers-{r['api_workers']}"
    emit(BENCH, "goal/rollout-efficiency", "value", ro["ratio"], "× ideal", case,
         target=GOAL_RATIO, met=ro["ratio"] <= GOAL_RATIO,
         machine_cpu_ms_per_node=round(ro["machine_cpu_ms_per_node"], 2),
         machine_cpu_ms_per_node_for_goal=round(ro["machine_cpu_ms_per_node_for_goal"], 2),
         note="the best server configuration measured (the baseline names it); the machine's "
              "CPU per upgraded node (server and load generator) beside what it would have "
              "to be for the target, the machine as busy as in that run")  # fmt: skip


def main() -> None:
    args = parse()
    sizes = Sizes("smoke" if args.smoke else "quick" if args.quick else "full")
    if args.store:
        sizes.stores = [args.store]
    if args.nodes:
        sizes.fleets = [int(n) for n in args.nodes.split(",")]
    if args.concurrency:
        sizes.concurrency = args.concurrency
    sizes.split = args.split
    sizes.api_workers = args.api_workers
    if args.api_workers or args.split or args.store == "etcd" or args.no_worker_runs:
        sizes.worker_runs = []
    if args.window:
        sizes.window = max(args.window, sizes.renew + 1)
    sizes.agent_calls = args.agent_calls
    sizes.client = args.client
    sizes.fleet_nice = args.fleet_nice
    if args.rollouts:
        sizes.rollouts = max(1, args.rollouts)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="k3os-bench-fleet-") as tmp:
        for store in sizes.stores:
            work = Path(tmp) / store
            work.mkdir()
            profile = Path(args.profile) / f"server-{store}.raw" if args.profile else None
            with ExitStack() as stack:
                endpoint = ""
                if store == "etcd":
                    (work / "etcd-data").mkdir()
                    endpoint = stack.enter_context(etcd_server(work / "etcd-data"))
                try:
                    results += asyncio.run(run_store(store, endpoint, work, sizes, profile))
                except BaseException:
                    for log in sorted(work.glob("*.log")):
                        sys.stderr.write(f"--- {log.name}\n{log.read_text()[-3000:]}\n")
                    raise
        for count in sizes.worker_runs:
            work = Path(tmp) / f"sqlite-workers-{count}"
            work.mkdir()
            extra = copy.copy(sizes)
            extra.fleets, extra.api_workers = [max(sizes.fleets)], count
            extra.window = min(sizes.window, 2 * sizes.renew)
            rows = asyncio.run(run_store("sqlite", "", work, extra, None))
            results += [{**row, "store": "sqlite", "api_workers": count} for row in rows]
    report(results, sizes)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        main()
    except NotFoundError as e:
        raise SystemExit(f"fleet bench: {e}") from e
