from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from k3os.agent.facts import NodeFacts
from k3os.agent.node import NodeKeeper, lease_object, seed_informer
from k3os.client import Backoff
from k3os.client.resources import LEASES, NODES
from tests.unit.agent.fakes import FakeKube

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Sleeps:
    """A sleep that records delays and stops the loop after `limit` calls."""

    def __init__(self, limit: int = 100) -> None:
        self.delays: list[float] = []
        self.limit = limit

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if len(self.delays) >= self.limit:
            raise asyncio.CancelledError


def keeper(kube: FakeKube, labels: dict[str, str] | None = None, **kw: Any) -> NodeKeeper:
    facts = NodeFacts(name="n1", labels=labels or {"a": "1"}, version="v1")
    return NodeKeeper(
        kube,  # type: ignore[arg-type]
        lambda: facts,
        backoff=Backoff(initial=0.1, maximum=1.0),
        now=lambda: NOW,
        **kw,
    )


async def test_register_creates_then_updates_the_same_node() -> None:
    kube = FakeKube()
    first = keeper(kube, sleep=Sleeps())
    node = await first.register()
    assert node["metadata"]["labels"]["k3os.io/version"] == "v1"
    assert kube.peek(NODES, "n1")["status"]["conditions"][0]["type"] == "Ready"
    assert first.registered.is_set()
    again = keeper(kube, {"a": "2"}, sleep=Sleeps())
    await again.register()
    assert [k for k in kube.objects if k[0] == "nodes"] == [("nodes", "", "n1")]
    assert kube.peek(NODES, "n1")["metadata"]["labels"]["a"] == "2"


async def test_a_start_inside_an_upgrade_leaves_the_labels_to_the_outcome() -> None:
    kube = FakeKube()
    await keeper(kube, sleep=Sleeps()).register()
    trial = keeper(kube, {"a": "2"}, sleep=Sleeps())
    node = await trial.register(defer_labels=True)
    assert node["metadata"]["labels"]["a"] == "1"  # left as it was
    assert kube.peek(NODES, "n1")["metadata"]["labels"]["a"] == "1"
    assert kube.peek(NODES, "n1")["status"]["conditions"][0]["type"] == "Ready"  # posted
    assert trial.pending_labels() == {"metadata": {"labels": {"a": "2"}}}
    # A Node that is not there is created whole, deferred or not.
    del kube.objects[("nodes", "", "n1")]
    fresh = keeper(kube, {"a": "3"}, sleep=Sleeps())
    await fresh.register(defer_labels=True)
    assert kube.peek(NODES, "n1")["metadata"]["labels"]["a"] == "3"
    assert fresh.pending_labels() is None
    assert keeper(kube, sleep=Sleeps()).pending_labels() is None  # no Node known yet


async def test_register_retries_while_the_server_is_away() -> None:
    kube = FakeKube()
    kube.fail_next = 3
    sleeps = Sleeps()
    await keeper(kube, sleep=sleeps).register()
    assert sleeps.delays == [0.1, 0.2, 0.4]


async def test_status_registers_a_deleted_node_again() -> None:
    kube = FakeKube()
    k = keeper(kube, sleep=Sleeps())
    await k.register()
    del kube.objects[("nodes", "", "n1")]
    k.ready_problem = "booting"
    await k.post_status()
    cond = kube.peek(NODES, "n1")["status"]["conditions"][0]
    assert (cond["status"], cond["message"]) == ("False", "booting")


async def test_status_goes_without_a_read_while_ready_stays_and_merges_when_it_changed() -> None:
    kube = FakeKube()
    clock = [NOW]
    facts = NodeFacts(name="n1", labels={"a": "1"}, version="v1")
    k = NodeKeeper(kube, lambda: facts, now=lambda: clock[0], sleep=Sleeps())  # type: ignore[arg-type]
    await k.register()
    born = kube.peek(NODES, "n1")["status"]["conditions"][0]["lastTransitionTime"]
    # A round of the status loop: one request, a JSON patch that keeps the transition time.
    clock[0] = NOW + timedelta(minutes=1)
    kube.calls.clear()
    await k.post_status()
    assert [c[0] for c in kube.calls] == ["patch/status"]
    ready = kube.peek(NODES, "n1")["status"]["conditions"][0]
    assert ready["lastTransitionTime"] == born
    assert ready["lastHeartbeatTime"] == "2026-01-02T03:05:05Z"
    # The node lifecycle controller marked it Unknown meanwhile (another condition too):
    # the patch's test fails, the Node is read, Ready gets a new transition time and the
    # other condition stays.
    other = {"type": "DiskPressure", "status": "False"}
    kube.peek(NODES, "n1")["status"]["conditions"] = [{**ready, "status": "Unknown"}, other]
    clock[0] = NOW + timedelta(minutes=2)
    kube.calls.clear()
    await k.post_status()
    assert [c[0] for c in kube.calls] == ["patch/status", "get", "patch/status"]
    conditions = kube.peek(NODES, "n1")["status"]["conditions"]
    assert conditions[0]["status"] == "True"
    assert conditions[0]["lastTransitionTime"] == "2026-01-02T03:06:05Z"
    assert conditions[1] == other
    # A restart: one request too, and the Node it answers tells the labels are current.
    kube.calls.clear()
    again = NodeKeeper(kube, lambda: facts, now=lambda: clock[0], sleep=Sleeps())  # type: ignore[arg-type]
    await again.register()
    assert [c[0] for c in kube.calls] == ["patch/status"]
    assert again.node is not None and again.pending_labels() is None


async def test_lease_is_created_then_renewed() -> None:
    kube = FakeKube()
    k = keeper(kube, sleep=Sleeps())
    assert k.healthy(10) is not None
    await k.renew_lease()
    await k.renew_lease()
    lease = kube.peek(LEASES, "n1", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == "n1"
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert k.renewals == 2 and k.renewed.is_set()
    assert k.healthy(10) is None
    # the first renewal patches (no read; here it is not there yet, so it is created); the
    # next ones write the Lease as last written, one request each
    assert [c[0] for c in kube.calls if c[1] == "leases"] == ["patch", "create", "replace"]
    later = keeper(kube, sleep=Sleeps(), lease_duration=5)
    later.last_renewal = NOW - timedelta(seconds=30)
    assert "30s ago" in str(later.healthy(10))


async def test_a_lease_made_by_another_in_between_waits_for_the_next_round() -> None:
    kube = FakeKube()
    k = keeper(kube, sleep=Sleeps())
    original = kube.create

    async def raced(*a: Any, **kw: Any) -> Any:  # not there for the patch, there for the create
        kube.create = original  # type: ignore[method-assign]
        from k3os.client import ConflictError

        raise ConflictError(409, "AlreadyExists", "exists", {})

    kube.create = raced  # type: ignore[method-assign]
    await k.renew_lease()
    assert k.renewals == 0 and not k.renewed.is_set()
    await k.renew_lease()
    assert k.renewals == 1


async def test_a_lease_changed_or_removed_meanwhile_is_patched_in_the_same_round() -> None:
    kube = FakeKube()
    k = keeper(kube, sleep=Sleeps())
    await k.renew_lease()
    taken = lease_object("other", 40, NOW)
    taken["metadata"]["name"] = "n1"
    kube.put(LEASES, taken)
    kube.calls.clear()
    await k.renew_lease()  # its cached resourceVersion is stale: conflict, then a patch
    assert [c[0] for c in kube.calls] == ["replace", "patch"]
    assert kube.peek(LEASES, "n1", "kube-node-lease")["spec"]["holderIdentity"] == "n1"
    del kube.objects[("leases", "kube-node-lease", "n1")]
    kube.calls.clear()
    await k.renew_lease()  # removed: made again
    assert [c[0] for c in kube.calls] == ["replace", "patch", "create"]
    assert k.renewals == 3
    kube.calls.clear()
    await k.renew_lease()
    assert [c[0] for c in kube.calls] == ["replace"]


async def test_keep_lease_backs_off_and_keep_status_survives_errors() -> None:
    kube = FakeKube()
    kube.fail_next = 2
    sleeps = Sleeps(limit=4)
    k = keeper(kube, sleep=sleeps)
    with pytest.raises(asyncio.CancelledError):
        await k.keep_lease(10.0)
    assert sleeps.delays[:2] == [0.1, 0.2] and sleeps.delays[2] == 10.0
    status_sleeps = Sleeps(limit=3)
    k2 = keeper(kube, sleep=status_sleeps)
    kube.fail_next = 1
    with pytest.raises(asyncio.CancelledError):
        await k2.keep_status(5.0)
    assert status_sleeps.delays == [5.0, 5.0, 5.0]


async def test_register_warns_about_labels_only_the_cluster_sets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    facts = NodeFacts(name="n1", labels={}, refused_labels=("k3os.io/upgrade",))
    k = NodeKeeper(FakeKube(), lambda: facts, now=lambda: NOW, sleep=Sleeps())  # type: ignore[arg-type]
    await k.register()
    assert "k3os.io/upgrade" in caplog.text


def test_seed_informer_starts_from_the_registered_node_once() -> None:
    from k3os.client import Informer

    informer = Informer(FakeKube(), NODES, field_selector="metadata.name=n1")  # type: ignore[arg-type]
    node = {"metadata": {"name": "n1", "resourceVersion": "7"}}
    assert not seed_informer(informer, {"metadata": {"name": "n1"}})  # no version: list
    assert seed_informer(informer, node)
    assert informer.resource_version == "7" and informer.synced.is_set()
    assert informer.cache.get("n1") == node
    newer = {"metadata": {"name": "n1", "resourceVersion": "9"}}
    assert not seed_informer(informer, newer)  # it has run: its own version stands
    assert informer.resource_version == "7"
