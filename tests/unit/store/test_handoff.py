"""The writer-thread-to-loop hand-off: every item arrives once, in order, on the loop."""

from __future__ import annotations

import asyncio
import threading

from k3os.store._handoff import LoopInbox


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
    inbox.close()
    inbox.close()
    assert received == ["a", "b"]
