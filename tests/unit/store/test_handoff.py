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


def test_a_doorbell_sleeper_wakes_for_every_item_however_the_rings_fall() -> None:
    bell = Doorbell()
    items: list[int] = []
    taken: list[int] = []

    def sleeper() -> None:
        while len(taken) < 2000:
            bell.wait_until(lambda: len(items) > len(taken))
            taken.append(items[len(taken)])

    thread = threading.Thread(target=sleeper)
    thread.start()
    for i in range(2000):
        items.append(i)
        bell.ring()
    thread.join(30)
    assert not thread.is_alive()
    assert taken == list(range(2000))
    bell.close()
    bell.close()


def test_a_doorbell_ring_writes_only_to_a_sleeper() -> None:
    bell = Doorbell()
    for _ in range(100_000):  # nobody sleeps: no write, so a full pipe cannot block this
        bell.ring()
    bell.wait_until(lambda: True)  # ready at once: does not sleep
    bell.close()
