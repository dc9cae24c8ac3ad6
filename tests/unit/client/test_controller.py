"""A controller's workers: success forgets the key (or requeues it when asked), errors
requeue it as their kind says, and cancellation shuts the queue down."""

from __future__ import annotations

import asyncio

import pytest

from k3os.client import (
    Backoff,
    ConflictError,
    Controller,
    FakeClock,
    PermanentError,
    TemporaryError,
    TransportError,
    WorkQueue,
)
from k3os.client.clock import settle


def make(outcomes: dict[str, list[object]]) -> tuple[Controller[str], FakeClock, list[str]]:
    clock = FakeClock()
    calls: list[str] = []

    async def reconcile(key: str) -> float | None:
        calls.append(key)
        outcome = outcomes[key].pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[return-value]

    queue: WorkQueue[str] = WorkQueue(clock=clock, backoff=Backoff(initial=1.0, maximum=4.0))
    return Controller("test", reconcile, queue=queue, workers=2), clock, calls


async def test_outcomes_decide_requeueing() -> None:
    ctl, clock, calls = make(
        {
            "ok": [None],
            "again": [5.0, None],
            "perm": [PermanentError("bad")],
            "temp": [TemporaryError("wait", delay=3.0), None],
            "bug": [RuntimeError("x"), ConflictError(409, "Conflict", "", {}), None],
            "net": [TransportError("connection refused"), None],
        }
    )
    for key in ("ok", "again", "perm", "temp", "bug", "net"):
        await ctl.process(key)
    q = ctl.queue
    assert q.delayed == 4  # again after 5 s, temp after 3 s, bug and net after 1 s (backoff)
    assert q.requeues("bug") == 1 and q.requeues("perm") == 0
    runner = asyncio.create_task(ctl.run())
    for _ in range(20):
        await clock.advance(0.5)
    assert sorted(calls) == sorted(
        ["ok", "again", "perm", "temp", "bug", "net", "again", "temp", "bug", "bug", "net"]
    )
    assert q.requeues("bug") == 0  # forgotten after its success
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert q.shutting_down


async def test_workers_stop_when_the_queue_shuts_down() -> None:
    ctl, _, _ = make({})
    runner = asyncio.create_task(ctl.run())
    await settle()
    ctl.queue.shut_down()
    await asyncio.wait_for(runner, 5)


async def test_a_default_queue_is_made() -> None:
    async def reconcile(key: str) -> None:
        return None

    ctl: Controller[str] = Controller("plain", reconcile)
    assert ctl.queue.name == "plain"
