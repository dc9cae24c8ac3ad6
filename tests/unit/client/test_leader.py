"""Leader election on a Lease, on a fake clock: acquire, renew, hold off a second candidate,
take over after the lease duration once the holder stops renewing, step down when renewal
fails past the deadline, and release on shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from k3os.client import FakeClock, LeaderElector, LeaseSettings
from k3os.client.clock import settle
from k3os.client.leader import default_identity
from tests.unit.client.fakes import LeaseStore

SETTINGS = LeaseSettings("mgr", "kube-system", lease_duration=15, renew_deadline=10, retry_period=2)


def lease(store: LeaseStore) -> dict[str, object]:
    return store.objects[("kube-system", "mgr")]["spec"]  # type: ignore[return-value]


async def work_forever(started: list[str], name: str) -> None:
    started.append(name)
    await asyncio.Event().wait()


async def advance(clock: FakeClock, seconds: float, step: float = 0.5) -> None:
    for _ in range(int(seconds / step)):
        await clock.advance(step)


async def test_one_leads_the_other_takes_over_after_the_lease_duration() -> None:
    store, clock = LeaseStore(), FakeClock()
    started: list[str] = []
    a = LeaderElector(store, SETTINGS, "a", clock=clock)  # type: ignore[arg-type]
    b = LeaderElector(store, SETTINGS, "b", clock=clock)  # type: ignore[arg-type]
    ta = asyncio.create_task(a.run(lambda: work_forever(started, "a")))
    await settle()
    tb = asyncio.create_task(b.run(lambda: work_forever(started, "b")))
    await advance(clock, 30)
    assert started == ["a"] and a.is_leader and not b.is_leader
    assert lease(store)["holderIdentity"] == "a"
    assert b.observed_holder == "a"
    # a's process dies: no release, no more renewals
    ta.cancel()
    store.fail_next = 10**6
    await asyncio.gather(ta, return_exceptions=True)
    store.fail_next = 0
    store.objects[("kube-system", "mgr")]["spec"]["holderIdentity"] = "a"
    store.rv += 1
    store.objects[("kube-system", "mgr")]["metadata"]["resourceVersion"] = str(store.rv)
    await advance(clock, 14)
    assert started == ["a"]  # not yet: the lease has not been stale for 15 s
    await advance(clock, 4)
    assert started == ["a", "b"] and b.is_leader
    spec = lease(store)
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    tb.cancel()
    await asyncio.gather(tb, return_exceptions=True)
    assert lease(store)["holderIdentity"] is None  # released on shutdown
    assert not b.is_leader and not b.leading.is_set()


async def test_a_released_lease_is_taken_at_once() -> None:
    store, clock = LeaseStore(), FakeClock()
    started: list[str] = []
    a = LeaderElector(store, SETTINGS, "a", clock=clock)  # type: ignore[arg-type]
    b = LeaderElector(store, SETTINGS, "b", clock=clock)  # type: ignore[arg-type]
    ta = asyncio.create_task(a.run(lambda: work_forever(started, "a")))
    await settle()
    tb = asyncio.create_task(b.run(lambda: work_forever(started, "b")))
    await advance(clock, 4)
    ta.cancel()
    await asyncio.gather(ta, return_exceptions=True)
    await advance(clock, 2.5)
    assert started == ["a", "b"]
    tb.cancel()
    await asyncio.gather(tb, return_exceptions=True)


async def test_a_renewal_landing_during_the_release_does_not_keep_the_lease() -> None:
    """The renewal cancelled on shutdown may still be written after the release read the
    Lease: the release's write then conflicts, and it reads again and releases."""
    store, clock = LeaseStore(), FakeClock()
    a = LeaderElector(store, SETTINGS, "a", clock=clock)  # type: ignore[arg-type]
    task = asyncio.create_task(a.run(lambda: work_forever([], "a")))
    await advance(clock, 4)
    assert a.is_leader
    read = store.get
    landed: list[bool] = []

    async def get_then_renewal_lands(rt: Any, name: str, namespace: str = "") -> Any:
        answer = await read(rt, name, namespace)
        if not landed:  # our late renewal, written just after this read
            landed.append(True)
            await store._store(("kube-system", "mgr"), await read(rt, name, namespace))
        return answer

    store.get = get_then_renewal_lands  # type: ignore[method-assign]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert landed and lease(store)["holderIdentity"] is None


async def test_the_leader_steps_down_when_it_cannot_renew() -> None:
    store, clock = LeaseStore(), FakeClock()
    cancelled = asyncio.Event()
    starts: list[float] = []

    async def work() -> None:
        starts.append(clock.monotonic())
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    a = LeaderElector(store, SETTINGS, "a", clock=clock)  # type: ignore[arg-type]
    task = asyncio.create_task(a.run(work))
    await advance(clock, 1)
    assert a.is_leader and len(starts) == 1
    store.fail_next = 100  # the API stops answering
    await advance(clock, 9)
    assert a.is_leader and not cancelled.is_set()  # within the renew deadline
    await advance(clock, 2)
    assert cancelled.is_set() and not a.is_leader and not a.leading.is_set()
    store.fail_next = 0  # the API is back; the Lease still names us, so we lead again
    await advance(clock, 2)
    assert a.is_leader and len(starts) == 2
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_candidate_that_sees_another_holder_on_renewal_steps_down() -> None:
    store, clock = LeaseStore(), FakeClock()
    a = LeaderElector(store, SETTINGS, "a", clock=clock)  # type: ignore[arg-type]
    task = asyncio.create_task(a.run(asyncio.Event().wait))  # type: ignore[arg-type]
    await advance(clock, 1)
    assert a.is_leader
    obj = store.objects[("kube-system", "mgr")]
    await store.replace(None, {**obj, "spec": {**obj["spec"], "holderIdentity": "intruder"}})  # type: ignore[arg-type]
    await advance(clock, 2)
    assert not a.is_leader
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert lease(store)["holderIdentity"] == "intruder"  # not ours to release


async def test_conflicting_writes_and_missing_leases_are_retried() -> None:
    store, clock = LeaseStore(), FakeClock()
    a = LeaderElector(store, SETTINGS, "a", clock=clock)  # type: ignore[arg-type]
    store.fail_next = 1
    task = asyncio.create_task(a.run(asyncio.Event().wait))  # type: ignore[arg-type]
    await settle()
    assert not a.is_leader
    await advance(clock, 2)
    assert a.is_leader
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # release when the API is down: logged, not raised
    b = LeaderElector(store, SETTINGS, "b", clock=clock)  # type: ignore[arg-type]
    store.fail_next = 1
    await b.release()


@pytest.mark.parametrize(("d", "r", "p"), [(10, 10, 2), (15, 10, 0), (15, 5, 6)])
def test_settings_order(d: float, r: float, p: float) -> None:
    with pytest.raises(ValueError, match="retry_period < renew_deadline < lease_duration"):
        LeaseSettings("x", lease_duration=d, renew_deadline=r, retry_period=p)


def test_default_identity_is_unique() -> None:
    assert default_identity() != default_identity()
