from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from k3os.agent.boot import UpgradeJob, job_outcome, select_boot_version, state_of
from k3os.agent.fetch import is_url, server_path
from k3os.agent.upgrades import Upgrader, failure_reason, open_requests
from k3os.apis.handoff import UpgradeOutcome, UpgradeRequest, outcome_key, request_key
from k3os.client import Cache, TransportError
from k3os.client.resources import NODES
from k3os.image import HealthSpec, SignatureError, StateError, confirm
from k3os.image.errors import DownloadError
from tests.tooling.image_fixtures import bundle, keypair, new_state
from tests.unit.agent.fakes import FakeKube


def request(hash_: str, image: str, version: str = "v2") -> UpgradeRequest:
    return UpgradeRequest(plan="sys/p", hash=hash_, version=version, image=image)


def node_with(*annotations: tuple[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "annotations": dict(annotations)}}


def test_open_requests_skip_answered_ones() -> None:
    answered = UpgradeOutcome(hash="h1", phase="Complete", version="v2")
    node = node_with(
        (request_key("p"), request("h1", "x").encode()),
        (outcome_key("p"), answered.encode()),
        (request_key("q"), request("h9", "y").encode()),
        (outcome_key("q"), answered.encode()),
        (request_key("broken"), "{not json"),
    )
    assert [(name, r.hash) for name, r in open_requests(node)] == [("q", "h9")]
    assert open_requests({"metadata": {}}) == []


def test_failure_reasons_and_sources() -> None:
    assert failure_reason(SignatureError("bad")) == "VerificationFailed"
    assert failure_reason(DownloadError("x")) == "FetchFailed"
    assert failure_reason(TransportError("x")) == "FetchFailed"
    assert failure_reason(StateError("x")) == "StageFailed"
    assert is_url("https://a/b.bundle") and is_url("file:///b") and not is_url("k3os-v2.bundle")
    assert server_path("a b/c") == "/v1-k3os/images/a%20b%2Fc"


def test_upgrade_job_file(tmp_path: Path) -> None:
    path = tmp_path / "upgrade.json"
    assert UpgradeJob.load(path) is None
    job = UpgradeJob(plan="p", namespace="ns", hash="h", image="i")
    job.save(path)
    assert UpgradeJob.load(path) == job
    path.write_text(json.dumps({"unknown": 1}))
    assert UpgradeJob.load(path) is None
    assert state_of(None) is None and state_of(tmp_path) is None


class World:
    def __init__(self, tmp: Path) -> None:
        self.keys = keypair(tmp / "keys")
        self.v1 = bundle(tmp / "b", self.keys, "v1", seed=1)
        self.v2 = bundle(tmp / "b", self.keys, "v2", seed=2)
        self.state = new_state(tmp / "root", self.v1, self.keys)
        assert select_boot_version(self.state) == "v1"
        self.kube = FakeKube()
        self.nodes = Cache()
        self.reboots: list[int] = []
        self.events: list[str] = []
        self.job_file = tmp / "agent" / "upgrade.json"
        self.upgrader = Upgrader(
            self.kube,  # type: ignore[arg-type]
            "n1",
            self.state,
            self.job_file,
            nodes=self.nodes,
            reboot=lambda: self.reboots.append(1),
            record=self.record,
        )
        self.sleeps: list[float] = []
        self.upgrader.sleep = self.fake_sleep
        self.set_node(node_with())

    async def fake_sleep(self, delay: float) -> None:
        self.sleeps.append(delay)

    async def record(self, obj: Any, reason: str, message: str, type_: str) -> None:
        self.events.append(reason)

    def set_node(self, node: dict[str, Any]) -> None:
        stored = self.kube.put(NODES, node)
        self.nodes.upsert(stored)

    def outcome(self) -> dict[str, Any]:
        annotations = self.kube.peek(NODES, "n1")["metadata"]["annotations"]
        return dict(json.loads(annotations[outcome_key("p")]))


async def test_upgrade_stages_reboots_and_reports_the_commit(tmp_path: Path) -> None:
    w = World(tmp_path)
    await w.upgrader.start("p", request("h2", f"file://{w.v2}"))
    assert w.reboots == [1] and w.events == ["UpgradeStarted"]
    job = UpgradeJob.load(w.job_file)
    assert job is not None and (job.stage, job.version, job.previous) == ("staged", "v2", "v1")
    # the "reboot": boot selection tries v2
    assert select_boot_version(w.state) == "v2"
    assert job_outcome(job, w.state)[0] == "Pending"
    assert await w.upgrader.resume() is True
    outcome, _ = confirm(w.state, HealthSpec(timeout=1, interval=0.01))
    assert outcome == "committed"
    assert await w.upgrader.resume() is False
    assert w.outcome() == {
        "hash": "h2",
        "phase": "Complete",
        "version": "v2",
        "reason": "Upgraded",
        "message": "booted v2",
    }
    assert not w.job_file.exists() and w.events[-1] == "UpgradeComplete"
    assert await w.upgrader.resume() is False  # nothing left to report


async def test_failed_trial_is_reported_after_the_fallback(tmp_path: Path) -> None:
    w = World(tmp_path)
    await w.upgrader.start("p", request("h2", f"file://{w.v2}"))
    select_boot_version(w.state)
    failing = HealthSpec(timeout=0.05, interval=0.01, extra=(lambda: "service down",))
    assert confirm(w.state, failing)[0] == "failed"
    job = UpgradeJob.load(w.job_file)
    assert job is not None
    assert job_outcome(job, w.state)[:2] == ("Failed", "HealthCheckFailed")
    assert select_boot_version(w.state) == "v1"  # falls back
    assert await w.upgrader.resume() is False
    outcome = w.outcome()
    assert (outcome["phase"], outcome["reason"], outcome["version"]) == (
        "Failed",
        "HealthCheckFailed",
        "v1",
    )
    assert "service down" in outcome["message"] and w.events[-1] == "UpgradeFailed"


async def test_fetch_failure_and_version_already_running(tmp_path: Path) -> None:
    w = World(tmp_path)
    await w.upgrader.start("p", request("h3", f"file://{tmp_path}/missing.bundle"))
    assert w.outcome()["phase"] == "Failed" and w.outcome()["reason"] == "FetchFailed"
    assert w.sleeps == [2.0, 4.0, 8.0]  # tried 4 times before giving up
    assert w.reboots == []
    await w.upgrader.start("p", request("h4", f"file://{w.v1}", "v1"))
    assert (w.outcome()["phase"], w.outcome()["message"]) == ("Complete", "v1 is already running")
    assert w.reboots == []


async def test_the_opening_event_goes_out_during_the_fetch_and_lands_first(
    tmp_path: Path,
) -> None:
    """UpgradeStarted does not hold the fetch up, but is in before the closing Event (a
    fetch that fails faster than the Event is sent) and before the reboot."""
    w = World(tmp_path)
    sent = asyncio.Event()
    order: list[str] = []

    async def slow_record(obj: Any, reason: str, message: str, type_: str) -> None:
        if reason == "UpgradeStarted":
            order.append("started: sending")
            await sent.wait()
        order.append(reason)

    async def stage(job: Any) -> Any:
        order.append("fetching")  # the upgrade did not wait for the Event
        sent.set()
        raise OSError("disk full")

    w.upgrader.record = slow_record
    w.upgrader.stage = stage  # type: ignore[method-assign]
    w.upgrader.sleep = w.fake_sleep
    await w.upgrader.start("p", request("h2", "k3os-v2.bundle"))
    assert order == ["fetching", "started: sending", "UpgradeStarted", "UpgradeFailed"], order
    assert w.outcome()["phase"] == "Failed"

    w2 = World(tmp_path / "second")
    order.clear()
    sent.clear()
    w2.upgrader.record = slow_record
    real_stage = w2.upgrader.stage

    async def stage_then_send(job: Any) -> Any:
        staged = await real_stage(job)
        assert w2.reboots == []
        sent.set()
        return staged

    w2.upgrader.stage = stage_then_send  # type: ignore[method-assign]
    await w2.upgrader.start("p", request("h2", f"file://{w2.v2}"))
    assert order == ["started: sending", "UpgradeStarted"] and w2.reboots == [1]


async def test_job_outcomes_from_the_state_area(tmp_path: Path) -> None:
    w = World(tmp_path)
    job = UpgradeJob(plan="p", namespace="ns", hash="h", image="i", version="v7", stage="staged")
    assert job_outcome(job, w.state)[:2] == ("Failed", "NotBooted")
    fetching = UpgradeJob(plan="p", namespace="ns", hash="h", image="i")
    fetching.save(w.job_file)
    assert await w.upgrader.resume() is False
    assert not w.job_file.exists() and w.upgrader.wake.is_set()


async def test_run_starts_open_requests_one_at_a_time(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.set_node(node_with((request_key("p"), request("h2", f"file://{w.v2}").encode())))
    task = asyncio.create_task(w.upgrader.run())
    w.upgrader.on_change("MODIFIED", {}, None)
    for _ in range(200):
        if w.reboots:
            break
        await asyncio.sleep(0.01)
    assert w.reboots == [1]
    w.upgrader.on_change("MODIFIED", {}, None)  # a job is in flight: nothing new starts
    await asyncio.sleep(0.05)
    assert w.reboots == [1]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_outcome_is_retried_until_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path)
    sleeps: list[float] = []

    async def fast(delay: float) -> None:
        sleeps.append(delay)

    monkeypatch.setattr("k3os.agent.upgrades.asyncio.sleep", fast)
    w.kube.fail_next = 2
    await w.upgrader.write_outcome("p", UpgradeOutcome(hash="h", phase="Failed"))
    assert len(sleeps) == 2 and w.outcome()["phase"] == "Failed"


async def test_the_outcome_carries_the_pending_labels_in_the_same_write(tmp_path: Path) -> None:
    w = World(tmp_path)
    written: list[dict[str, Any]] = []
    labels = {"labels": {"k3os.io/version": "v2"}, "annotations": {"k3os.io/config-labels": ""}}
    w.upgrader.labels = lambda: {"metadata": labels}
    w.upgrader.written = written.append
    calls = len(w.kube.calls)
    await w.upgrader.write_outcome("p", UpgradeOutcome(hash="h", phase="Complete"))
    assert w.kube.calls[calls:] == [("patch", "nodes", "n1")]  # one write
    node = w.kube.peek(NODES, "n1")
    assert node["metadata"]["labels"]["k3os.io/version"] == "v2"
    assert node["metadata"]["annotations"]["k3os.io/config-labels"] == ""
    assert w.outcome()["phase"] == "Complete"
    assert written == [node]


async def test_an_unexpected_error_fails_the_upgrade_not_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path)

    def explode(*a: Any, **kw: Any) -> Any:
        raise ValueError("odd")

    monkeypatch.setattr("k3os.agent.upgrades.upgrade", explode)
    await w.upgrader.start("p", request("h5", f"file://{w.v2}"))
    assert (w.outcome()["phase"], w.outcome()["reason"]) == ("Failed", "StageFailed")
    assert "odd" in w.outcome()["message"] and w.reboots == []


async def test_a_fetch_that_fails_once_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path)
    real = w.upgrader.stage
    calls: list[int] = []

    async def flaky(job: UpgradeJob) -> UpgradeJob | None:
        calls.append(1)
        if len(calls) == 1:
            raise TransportError("network is unreachable")
        return await real(job)

    monkeypatch.setattr(w.upgrader, "stage", flaky)
    await w.upgrader.start("p", request("h6", f"file://{w.v2}"))
    assert len(calls) == 2 and w.sleeps == [2.0] and w.reboots == [1]


async def test_an_answered_request_runs_again_only_when_asked_again(tmp_path: Path) -> None:
    w = World(tmp_path)
    ask = (request_key("p"), request("h2", f"file://{w.v2}").encode())
    w.set_node(node_with(ask))
    await w.upgrader.start("p", request("h2", f"file://{w.v2}"))
    select_boot_version(w.state)
    failing = HealthSpec(timeout=0.05, interval=0.01, extra=(lambda: "service down",))
    assert confirm(w.state, failing)[0] == "failed"
    assert select_boot_version(w.state) == "v1"  # falls back
    assert await w.upgrader.resume() is False  # answers Failed on the server...
    w.nodes.upsert(node_with(ask))  # ...but the node cache has not seen the outcome yet
    reboots = len(w.reboots)
    task = asyncio.create_task(w.upgrader.run())
    w.upgrader.on_change("MODIFIED", {}, None)
    await asyncio.sleep(0.1)
    assert len(w.reboots) == reboots  # the failed version is not staged again
    assert w.state.pointer("current") == "v1"
    assert UpgradeJob.load(w.job_file) is None
    # The controller asks again (a retry clears the outcome): a newer Node, a real request.
    w.set_node(node_with(ask))
    w.upgrader.on_change("MODIFIED", {}, None)
    for _ in range(200):
        if len(w.reboots) > reboots:
            break
        await asyncio.sleep(0.01)
    assert len(w.reboots) == reboots + 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_request_that_hands_the_finish_over_is_finished_in_the_answers_write(
    tmp_path: Path,
) -> None:
    """A finish beside the request names the labels that mark the node done: the
    `Complete` answer sets them, records the node complete (no time: the controller's clock
    gives one if needed) and drops the request and the finish, in its one write. A failure
    leaves all that to the controller."""
    from k3os.apis import NodeUpgradeRecord, read_record
    from k3os.apis.handoff import UpgradeFinish, finish_key
    from k3os.apis.keys import node_record_key

    w = World(tmp_path)
    finish = UpgradeFinish(hash="h2", labels={"plan.upgrade.cattle.io/p": "h2"})
    applying = NodeUpgradeRecord(hash="h2", phase="Applying", retry="r1")
    asked = node_with(
        (request_key("p"), request("h2", "x").encode()),
        (finish_key("p"), finish.encode()),
        (node_record_key("p"), applying.encode()),
    )
    w.set_node(asked)
    w.upgrader.labels = lambda: {"metadata": {"labels": {"k3os.io/version": "v2"}}}
    calls = len(w.kube.calls)
    await w.upgrader.write_outcome("p", UpgradeOutcome(hash="h2", phase="Complete"))
    assert w.kube.calls[calls:] == [("patch", "nodes", "n1")]  # one write
    meta = w.kube.peek(NODES, "n1")["metadata"]
    assert meta["labels"] == {"k3os.io/version": "v2", "plan.upgrade.cattle.io/p": "h2"}
    assert request_key("p") not in meta["annotations"]
    assert finish_key("p") not in meta["annotations"]
    record = read_record(meta["annotations"], "p")
    assert record == NodeUpgradeRecord(hash="h2", phase="Complete", retry="r1")
    assert w.outcome()["phase"] == "Complete"

    w.set_node(asked)
    await w.upgrader.write_outcome("p", UpgradeOutcome(hash="h2", phase="Failed"))
    meta = w.kube.peek(NODES, "n1")["metadata"]
    assert "plan.upgrade.cattle.io/p" not in (meta.get("labels") or {})
    assert {request_key("p"), finish_key("p")} <= set(meta["annotations"])
    assert read_record(meta["annotations"], "p") == applying
