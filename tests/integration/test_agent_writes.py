"""The API calls the real agent makes around one OS upgrade, counted against a real server.

A fleet's rollout pays the server for every one of them (docs/benchmarks.md, *The real
agent's other calls*), so the count is pinned here: a regression that adds an Event, a
second status post or a write that changes nothing fails these tests. The agent runs in this
process (an `Agent`, then a second one for the boot after its "reboot", as `k3os agent`
executes itself again) with a client that records every request it makes; the server is a
real `k3os server` over TLS.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from k3os.agent import REBOOT_EXIT_CODE, AgentSettings
from k3os.agent.runner import Agent
from k3os.apis.handoff import UpgradeRequest, outcome_key, read_outcome, request_key
from k3os.client import Kube, connect_kubeconfig
from k3os.client.resources import EVENTS, NODES
from tests.integration._agent import install_crds
from tests.integration._apiserver import RunningServer, running_server
from tests.tooling.image_fixtures import bundle, keypair, new_state

pytestmark = pytest.mark.integration

NODE = "edge-w"
PLAN = "os-upgrade"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


class Recorder:
    """Every request a client makes, as (method, path without the query)."""

    def __init__(self, kube: Kube) -> None:
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[Any] = []  # the JSON body of each call (None without one)
        self.answered: list[tuple[str, str]] = []  # the calls the server has answered
        inner = kube.request

        async def request(method: str, path: str, **kw: Any) -> Any:
            call = (method, path.split("?")[0])
            self.calls.append(call)
            self.bodies.append(kw.get("body"))
            answer = await inner(method, path, **kw)
            self.answered.append(call)
            return answer

        kube.request = request  # type: ignore[method-assign]

    def mark(self) -> int:
        return len(self.calls)

    def writes(self, since: int) -> list[tuple[str, str]]:
        return [c for c in self.calls[since:] if c[0] in WRITES]

    def reads(self, since: int) -> list[tuple[str, str]]:
        """Reads of one named object (GET of a path that names it; lists and watches not)."""
        named = ("/nodes/", "/leases/", "/renderednodeconfigs/")
        return [c for c in self.calls[since:] if c[0] == "GET" and any(n in c[1] for n in named)]


def _settings(tmp_path: Path, root: Path | None) -> AgentSettings:
    # Heartbeats far apart, so the counts hold only what an upgrade or a start makes (and
    # the one Lease renewal of each start).
    return AgentSettings(
        server="https://unused",
        node_name=NODE,
        data_dir=tmp_path / "data",
        root=root,
        renew_interval=30.0,
        status_interval=300.0,
        health_timeout=20.0,
        health_interval=0.05,
    )


async def _run_until(agent: Agent, done: Callable[[], bool], what: str) -> int:
    task = asyncio.create_task(agent.run())
    for _ in range(1200):
        if task.done() or done():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"{what}: not in time")
    agent.stop.set()
    return await asyncio.wait_for(task, 30)


def _kind(call: tuple[str, str]) -> str:
    """`PATCH nodes`, `PATCH nodes/status`, `POST events`, `PUT leases`..."""
    method, path = call
    parts = [p for p in path.split("/") if p]
    parts = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if parts[:1] == ["namespaces"] and len(parts) > 2:
        parts = parts[2:]
    resource = parts[0] + ("/" + parts[2] if len(parts) > 2 else "")
    return f"{method} {resource}"


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with running_server(tmp_path / "server") as srv:
        install_crds(srv)
        yield srv


async def _node(kube: Kube) -> dict[str, Any]:
    return await kube.get(NODES, NODE)


async def test_a_restart_with_nothing_changed_writes_only_the_status(
    tmp_path: Path, server: RunningServer
) -> None:
    kube = connect_kubeconfig(server.kubeconfig)
    calls = Recorder(kube)
    try:
        first = Agent(_settings(tmp_path, None), kube)
        await _run_until(first, lambda: first.keeper.renewals >= 1, "first start")
        registered = calls.mark()
        again = Agent(_settings(tmp_path, None), kube)
        await _run_until(again, lambda: again.keeper.renewals >= 1, "restart")
        kinds = Counter(_kind(c) for c in calls.writes(registered))
        # The status post, the Lease renewal of the start, and its `Starting` Event: no
        # create that fails, no label patch, no second status.
        assert kinds == Counter(["PATCH nodes/status", "PATCH leases", "POST events"]), kinds
        # Nothing is read: the status goes as a JSON patch that tests the Node's Ready is
        # what it posts, the start's renewal is one merge patch, and the RenderedNodeConfig's
        # informer streams its list.
        assert Counter(_kind(c) for c in calls.reads(registered)) == Counter()
    finally:
        await kube.aclose()


async def test_one_upgrade_costs_five_writes(tmp_path: Path, server: RunningServer) -> None:
    keys = keypair(tmp_path / "keys")
    v1 = bundle(tmp_path / "b", keys, "v1", seed=1)
    v2 = bundle(tmp_path / "b", keys, "v2", seed=2)
    root = tmp_path / "root"
    new_state(root, v1, keys).boot("current")
    admin = connect_kubeconfig(server.kubeconfig)
    kube = connect_kubeconfig(server.kubeconfig)
    calls = Recorder(kube)
    try:
        first = Agent(_settings(tmp_path, root), kube)
        task = asyncio.create_task(first.run())
        while first.keeper.renewals < 1 or first.upgrader is None:
            assert not task.done()
            await asyncio.sleep(0.05)
        assert (await _node(admin))["metadata"]["labels"]["k3os.io/version"] == "v1"
        asked = calls.mark()
        request = UpgradeRequest(
            plan=f"k3os-system/{PLAN}", hash="h2", version="v2", image=f"file://{v2}"
        )
        patch = {"metadata": {"annotations": {request_key(PLAN): request.encode()}}}
        await admin.patch(NODES, NODE, patch)
        assert await asyncio.wait_for(task, 60) == REBOOT_EXIT_CODE
        before_reboot = [_kind(c) for c in calls.writes(asked)]
        assert before_reboot == ["POST events"], before_reboot

        rebooted = calls.mark()
        answers_before = len(calls.answered)
        second = Agent(_settings(tmp_path, root), kube)

        def answered() -> bool:
            # The closing Event written, not only sent: the agent is stopped once it is.
            after = calls.answered[answers_before:]
            return any(c[0] == "POST" and c[1].endswith("/events") for c in after)

        assert await _run_until(second, answered, "the outcome and its Event") == 0
        after = Counter(_kind(c) for c in calls.writes(rebooted))
        # One status, the start's Lease renewal (the one the health check waits for), the
        # outcome with the new version's label, the closing Event.
        assert after == Counter(
            ["PATCH nodes/status", "PATCH leases", "PATCH nodes", "POST events"]
        ), after
        [answer] = [
            body
            for call, body in zip(calls.calls[rebooted:], calls.bodies[rebooted:], strict=True)
            if _kind(call) == "PATCH nodes"
        ]
        assert answer["metadata"]["labels"] == {"k3os.io/version": "v2"}, answer
        assert outcome_key(PLAN) in answer["metadata"]["annotations"], answer
        reads = Counter(_kind(c) for c in calls.reads(rebooted))
        assert reads == Counter(), reads
        # Its watches start from what it wrote (the Node) or stream their list (its
        # RenderedNodeConfig): no list request.
        for listing in ("/api/v1/nodes", "/apis/k3os.io/v1/renderednodeconfigs"):
            assert ("GET", listing) not in calls.calls[rebooted:], calls.calls[rebooted:]
        assert second.rendered is not None and second.rendered.synced.is_set()
        assert second.rendered.lists == 1  # the one streamed list of the start

        node = await _node(admin)
        outcome = read_outcome(node["metadata"]["annotations"], PLAN)
        assert outcome is not None and (outcome.phase, outcome.version) == ("Complete", "v2")
        assert node["metadata"]["labels"]["k3os.io/version"] == "v2"
        assert "v2" in node["status"]["nodeInfo"]["osImage"]
        events = (await admin.list(EVENTS, "default")).items
        ours = {
            e["reason"]: (e["type"], e["message"])
            for e in events
            if e["involvedObject"]["name"] == NODE
        }
        # The first start's `Starting`; none for the boot inside the upgrade.
        reasons = Counter(e["reason"] for e in events if e["involvedObject"]["name"] == NODE)
        assert reasons == Counter(["Starting", "UpgradeStarted", "UpgradeComplete"]), reasons
        started, complete = ours["UpgradeStarted"], ours["UpgradeComplete"]
        assert started[0] == "Normal" and "v2" in started[1] and "reboots" in started[1]
        assert complete == ("Normal", f"plan k3os-system/{PLAN}: booted v2"), complete
    finally:
        await kube.aclose()
        await admin.aclose()
