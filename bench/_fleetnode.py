"""A worker of simulated nodes for bench/fleet.py: many lightweight agents in one process.

Each simulated node is the real agent's API traffic without its host work: the agent's own
`NodeKeeper` (register, Lease renewal, node status), two informers from `k3os.client`
(the node itself and its RenderedNodeConfig, each by field selector, as `k3os agent`
watches them), its own TLS connection (HTTP/2, as the agent's client; `--client lean-h1`:
HTTP/1.1 connections, one per watch) and `system:node:<name>` client certificate.
On a new rendered hash it reports `status.observedHash` as the agent does (without applying
anything). On an upgrade request it makes the real agent's calls in their order
(k3os.agent.upgrades and .runner; `SimNode.upgrade` lists them), with the simulated upgrade
time in place of the fetch, the staging and the reboot; `--agent-calls outcome` writes the
outcome only (the minimal hand-off, for comparison), and `--agent-calls keep-watches` makes
the agent's calls but keeps its two watch connections through the "reboot", which no real
reboot can do (a comparison: what reconnecting costs).

The worker runs on uvloop, as the server does: the simulated fleet shares the machine's two
cores with the server, and a load generator that spends less of them leaves the server what
a fleet on its own machines would.

Every API request is timed (wall clock around `Kube.request`) and written to the samples
file as `<unix time> <verb> <resource> <ms>`; events as `<time> <event> <node> <hash>`,
where the event is `registered`, `seen` (a new rendered hash), `asked` (an upgrade
request), `rebooted` (the simulated upgrade time over, the new boot about to connect),
`connected` (a new TLS connection's handshake done: the join's, then each new boot's; the
lean clients only), `back` (its registration and first Lease renewal answered on the new
connection) or `upgraded` (its outcome written).

Run: `python bench/_fleetnode.py --server URL --certs DIR --names a,b --samples FILE ...`
until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from k3os.agent.configsync import RENDERED, apply_status
from k3os.agent.events import EventRecorder
from k3os.agent.facts import gather_facts
from k3os.agent.node import NodeKeeper, seed_informer
from k3os.agent.upgrades import open_requests, outcome_patch
from k3os.apis.handoff import UpgradeOutcome, UpgradeRequest
from k3os.client import ClientError, InformerSet, Kube, connect
from k3os.client.resources import NODES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _leankube import LeanH2Kube, LeanKube

Obj = dict[str, Any]


def classify(method: str, path: str) -> tuple[str, str]:
    """(verb, resource[/subresource]) of an API request path."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    parts = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if len(parts) > 2 and parts[0] == "namespaces":
        parts = parts[2:]
    resource = parts[0] if parts else "?"
    if len(parts) > 2:
        resource += "/" + parts[2]
    named = len(parts) > 1
    verb = {"GET": "get" if named else "list", "PUT": "update", "PATCH": "patch",
            "POST": "create", "DELETE": "delete"}.get(method, method.lower())  # fmt: skip
    return verb, resource


class Samples:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def request(self, verb: str, resource: str, ms: float) -> None:
        self.out.write(f"{time.time():.3f} {verb} {resource} {ms:.3f}\n")

    def event(self, what: str, node: str, detail: str) -> None:
        self.out.write(f"{time.time():.3f} {what} {node} {detail}\n")


def timed(kube: Kube, samples: Samples) -> Kube:
    """Time every request this client makes (watch streams are not requests)."""
    inner = kube.request

    async def request(method: str, path: str, **kw: Any) -> Obj:
        start = time.perf_counter()
        try:
            return await inner(method, path, **kw)
        finally:
            samples.request(*classify(method, path), (time.perf_counter() - start) * 1000)

    kube.request = request  # type: ignore[method-assign]
    return kube


class SimNode:
    def __init__(self, name: str, kube: Kube, args: argparse.Namespace, samples: Samples):
        self.name = name
        self.kube = kube
        self.args = args
        self.samples = samples
        base = gather_facts(None, name)
        self.facts = dataclasses.replace(base, name=name)
        self.keeper = NodeKeeper(kube, lambda: self.facts, lease_duration=40)
        self.events = EventRecorder(kube, name)
        self.upgrades: set[tuple[str, str]] = set()
        self.reported: str | None = None
        self.hash = "-"  # the upgrade the node is in, for its `connected` events
        if isinstance(kube, LeanKube):
            kube.on_connect = lambda: samples.event("connected", name, self.hash)
        self.tasks: set[asyncio.Task[None]] = set()
        self.watching: list[asyncio.Task[None]] = []  # the informers' tasks
        self.beating: list[asyncio.Task[None]] = []  # the Lease and status loops
        self.watches()

    def watches(self) -> None:
        """The agent's two informers, new as after a start."""
        self.informers = InformerSet(self.kube)
        by_name = f"metadata.name={self.name}"
        self.node = self.informers.get(NODES, field_selector=by_name)
        self.rendered = self.informers.get(RENDERED, field_selector=by_name)
        self.rendered.stream_list = True
        self.node.add_handler(self.on_node)
        self.rendered.add_handler(self.on_rendered)

    async def start_session(
        self,
        lease_delay: float | None,
        status_delay: float | None,
        *,
        watches: bool = True,
        renewed: bool = False,
    ) -> None:
        """What `Agent.run` starts after registration: the watches, the Lease loop and the
        status loop (`lease_delay` None: the start's renewal made beside registration, its
        result `renewed`, then the watches' seeding, as the agent makes them; `status_delay`
        None: registration posted it, the loop waits; `watches` False: the watches of the
        session before go on)."""
        if self.watching and watches:
            self.watches()
        if watches:
            self.seed(self.keeper.node)
            self.watching = [asyncio.create_task(c) for c in self.informers.coroutines().values()]
        if lease_delay is None:
            lease = self.keeper.keep_lease(self.args.renew, renewed=renewed)
        else:
            lease = self.loop_after(lease_delay, self.keeper.keep_lease, self.args.renew)
        if status_delay is None:
            status = self.keeper.keep_status(self.args.status)
        else:
            status = self.status_after(status_delay)
        self.beating = [asyncio.create_task(lease), asyncio.create_task(status)]

    def seed(self, node: Obj | None) -> None:
        """As `Agent._seed_watches`: the Node's watch from the registration's answer; the
        RenderedNodeConfig's informer streams its list (one request)."""
        if node is not None:
            seed_informer(self.node, node)

    def stop_session(self, *, watches: bool = True) -> None:
        """The agent stops for its reboot: its watches (unless `watches` is False) and
        heartbeats end."""
        for task in [*self.beating, *(self.watching if watches else ())]:
            task.cancel()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def on_node(self, change: str, obj: Obj, old: Obj | None) -> None:
        for plan, request in open_requests(obj):
            if (plan, request.hash) not in self.upgrades:
                self.upgrades.add((plan, request.hash))
                self.samples.event("asked", self.name, request.hash)
                self.spawn(self.upgrade(plan, request))

    async def event(self, reason: str, message: str) -> None:
        node = self.node.cache.get(self.name) or {"metadata": {"name": self.name}}
        await self.events.record({**node, "kind": "Node", "apiVersion": "v1"}, reason, message)

    async def upgrade(self, plan: str, request: UpgradeRequest) -> None:
        """The real agent's upgrade, call for call (k3os.agent.upgrades and .runner):

        1. Event `UpgradeStarted` (POST events), beside
        2. fetch, stage and reboot: the simulated upgrade time; then the node's watches and
           heartbeats stop and its connections close (the bench's image is not served, so
           no image GET);
        3. the new boot registers (one JSON patch of its status, no read; the labels wait
           for the outcome; no `Starting` Event inside an upgrade) and, beside it on the same
           new connection, renews its Lease (one merge patch, as a new process knows no
           Lease yet: the renewal the health check waits for);
        4. its watches reopen on the new connection without lists (its Node from the version
           registration wrote, its RenderedNodeConfig by a streamed list); its status loop
           starts over;
        5. after the health check: the outcome PATCH, with the labels that changed (the
           version) in it, and the finish when one stands beside the request (the done label,
           the record complete, the request dropped: `k3os.apis.handoff.agent_finish`),
           then Event `UpgradeComplete`.
        """
        if self.args.agent_calls == "outcome":
            await asyncio.sleep(self.args.upgrade_seconds)
            await self.write_outcome(plan, request)
            return
        started = asyncio.create_task(
            self.event(
                "UpgradeStarted",
                f"plan {request.plan}: upgrading to {request.version} from {request.image};"
                " the node reboots to try it",
            )
        )  # beside the fetch and staging, in before the reboot
        await asyncio.sleep(self.args.upgrade_seconds)  # fetch, stage, reboot, health check
        await started
        reconnect = self.args.agent_calls != "keep-watches"
        self.stop_session(watches=reconnect)
        if isinstance(self.kube, LeanKube):  # the new boot connects anew (--client httpx: kept)
            self.kube.drop_idle(keep_watches=not reconnect)
        self.facts = dataclasses.replace(self.facts, version=request.version)
        self.keeper = NodeKeeper(self.kube, lambda: self.facts, lease_duration=40)  # new boot

        async def register() -> None:
            with contextlib.suppress(ClientError):
                await self.keeper.register(defer_labels=True)

        self.hash = request.hash
        self.samples.event("rebooted", self.name, request.hash)
        _, renewed = await asyncio.gather(register(), self.keeper.first_renewal())
        self.samples.event("back", self.name, request.hash)
        await self.start_session(
            lease_delay=None, status_delay=None, watches=reconnect, renewed=renewed
        )
        await self.keeper.renewed.wait()
        await self.write_outcome(plan, request, self.keeper.pending_labels())
        await self.event("UpgradeComplete", f"plan {request.plan}: booted {request.version}")

    async def write_outcome(self, plan: str, request: UpgradeRequest,
                            labels: Obj | None = None) -> None:  # fmt: skip
        outcome = UpgradeOutcome(
            hash=request.hash, phase="Complete", version=request.version, reason="Upgraded"
        )
        patch = outcome_patch(plan, outcome, labels, self.node.cache.get(self.name))
        while True:
            try:
                await self.kube.patch(NODES, self.name, patch)
                break
            except ClientError:
                await asyncio.sleep(0.5)
        self.samples.event("upgraded", self.name, request.hash)

    def on_rendered(self, change: str, obj: Obj, old: Obj | None) -> None:
        wanted = str((obj.get("spec") or {}).get("hash") or "")
        status = obj.get("status") or {}
        if wanted and wanted != status.get("observedHash") and wanted != self.reported:
            self.reported = wanted
            self.samples.event("seen", self.name, wanted)
            self.spawn(self.report(status, wanted))

    async def report(self, status: Obj, wanted: str) -> None:
        from datetime import UTC, datetime

        update = apply_status(dict(status), wanted, None, datetime.now(UTC))
        with contextlib.suppress(ClientError):
            await self.kube.patch(RENDERED, self.name, {"status": update}, subresource="status")

    async def run(self) -> None:
        await self.keeper.register()
        self.samples.event("registered", self.name, "-")
        # A fleet's heartbeats are spread over the interval: each node starts at a random phase.
        await self.start_session(
            random.uniform(0, self.args.renew), random.uniform(0, self.args.status)
        )
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            self.stop_session()
            for task in list(self.tasks):
                task.cancel()

    async def status_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        with contextlib.suppress(ClientError):
            await self.keeper.post_status()
        await self.keeper.keep_status(self.args.status)

    async def loop_after(self, delay: float, loop: Any, interval: float) -> None:
        await asyncio.sleep(delay)
        await loop(interval)


async def main_async(args: argparse.Namespace) -> None:
    certs = Path(args.certs)
    names = [n for n in args.names.split(",") if n]
    out = Path(args.samples).open("a", buffering=1 << 16)  # noqa: ASYNC230, SIM115
    samples = Samples(out)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    kubes: list[Kube] = []
    tasks: list[asyncio.Task[None]] = []

    async def flusher() -> None:
        while True:
            await asyncio.sleep(0.5)
            out.flush()

    flush = asyncio.create_task(flusher())
    for i, name in enumerate(names):
        kube = connect(args.server, ca=certs / "ca.crt", cert=certs / f"{name}.crt",
                       key=certs / f"{name}.key", timeout=60)  # fmt: skip
        if args.client in ("lean", "lean-h1"):
            lean = LeanKube if args.client == "lean-h1" else LeanH2Kube
            httpx_kube, kube = kube, lean(kube.config, timeout=60)
            await httpx_kube.aclose()
        kubes.append(timed(kube, samples))
        tasks.append(asyncio.create_task(SimNode(name, kube, args, samples).run(), name=name))
        if args.join_rate > 0 and i + 1 < len(names):
            await asyncio.sleep(1 / args.join_rate)  # join in a stream, not all at once
        if stop.is_set():
            break
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for kube in kubes:
        with contextlib.suppress(Exception):
            await kube.aclose()
    flush.cancel()
    out.flush()
    out.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/_fleetnode.py")
    parser.add_argument("--server", required=True)
    parser.add_argument("--certs", required=True, help="ca.crt and <name>.crt/.key")
    parser.add_argument("--names", required=True)
    parser.add_argument("--samples", required=True)
    parser.add_argument("--renew", type=float, default=10.0)
    parser.add_argument("--status", type=float, default=60.0)
    parser.add_argument("--upgrade-seconds", type=float, default=1.0)
    parser.add_argument("--join-rate", type=float, default=0.0, help="nodes/s (0: all at once)")
    parser.add_argument("--agent-calls", choices=["agent", "keep-watches", "outcome"],
                        default="agent", help="the real agent's upgrade calls, the same with "
                        "its watches kept through the reboot, or the outcome only")  # fmt: skip
    parser.add_argument("--client", choices=["lean", "lean-h1", "httpx"], default="lean",
                        help="under Kube: bare TLS, HTTP/2 as the agent speaks it or HTTP/1.1, "
                        "or httpx2 as the agent")  # fmt: skip
    args = parser.parse_args()
    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
