"""The hand-offs between the loop and the writer thread: nothing is lost or reordered,
and no one blocks on a full pipe."""

from __future__ import annotations

import asyncio
import threading

from k3os.store._handoff import Doorbell, LoopInbox


async def test_items_posted_from_a_thread_arrive_on_the_loop_in_order() -> None:
    loop = asyncio.get_running_loop()
    received: list[int] = []
    threads: set[int] = set()
    done = asyncio.Event()

    def handle(item: int) -> None:
        received.append(item)
        threads.add(threading.get_ident())
        if item == 999:
            done.set()

    inbox = LoopInbox(loop, handle)
    worker = threading.Thread(target=lambda: [inbox.post(i) for i in range(1000)])
    worker.start()
    await asyncio.wait_for(done.wait(), 10)
    worker.join()
    inbox.close()
    assert received == list(range(1000))
    assert threads == {threading.get_ident()}


async def test_close_hands_over_what_is_still_queued_and_is_idempotent() -> None:
    received: list[str] = []
    inbox = LoopInbox(asyncio.get_running_loop(), received.append)
    inbox.post("a")
    inbox.post("b")  # the loop has not run yet: both are still queued
    for _ in range(100_000):  # more wake-ups than the pipe holds: posting never blocks
        inbox.post("c")
    inbox.close()
    inbox.close()
    assert received == ["a", "b"] + ["c"] * 100_000


def test_a_doorbell_rung_before_the_wait_is_not_lost() -> None:
    bell = Doorbell()
    bell.ring()
    bell.ring()
    bell.wait()  # returns at once: both rings were kept
    woke = threading.Event()

    def sleeper() -> None:
        bell.wait()
        woke.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    bell.ring()
    thread.join(10)
    assert woke.is_set()
    bell.close()
    bell.close()


def test_a_full_doorbell_never_blocks_the_ringer() -> None:
    bell = Doorbell()
    for _ in range(100_000):  # more than a pipe holds
        bell.ring()
    bell.close()
