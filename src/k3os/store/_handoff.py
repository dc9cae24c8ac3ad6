"""Wake-ups between the event loop and a worker thread that cost little.

A single writer awaiting each write crosses between the loop and the writer thread twice
per write, so each crossing counts. Both directions go through a pipe: the Linux scheduler
treats a pipe write as a wake-up whose sender is about to sleep, and tends to run the
woken thread on the sender's CPU rather than rouse an idle one (a halted vCPU costs tens
of microseconds to wake on a virtual machine). `LoopInbox` also hands over a whole batch
per wake-up and is drained with one read, a few microseconds less than
`loop.call_soon_threadsafe`, whose self-pipe is drained with a read that ends in an
exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Doorbell:
    """Lets a thread sleep until a condition holds; other threads ring after making it
    hold. Only a ring that finds the thread asleep (or about to sleep) writes to the pipe:
    a burst of rings costs one write, and the ringers keep the GIL (a write would hand
    it to the woken thread midway through the burst, cutting a batch short)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self._write, False)
        self._sleeping = False

    def ring(self) -> None:
        if self._sleeping:
            self._sleeping = False
            with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
                os.write(self._write, b"\0")

    def wait_until(self, ready: Callable[[], bool]) -> None:
        """Return once `ready()`, sleeping while it is not. No wake-up is lost: the
        thread says it sleeps before it looks a last time, and a ring that comes before
        the sleep makes the sleep return at once."""
        while not ready():
            self._sleeping = True
            if not ready():
                os.read(self._read, 65536)
            self._sleeping = False

    def close(self) -> None:
        """Release the pipe, once no thread rings or waits any more. Idempotent."""
        if self._read >= 0:
            os.close(self._read)
            os.close(self._write)
            self._read = self._write = -1


class LoopInbox(Generic[T]):
    """Items posted from any thread are passed to `handler` on the loop, in posting order.
    Made and closed on the loop's thread; close it only once no thread posts any more."""

    def __init__(self, loop: asyncio.AbstractEventLoop, handler: Callable[[T], None]) -> None:
        self._loop = loop
        self._handler = handler
        self._items: deque[T] = deque()
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        loop.add_reader(self._read, self.drain)

    def post(self, item: T) -> None:
        self._items.append(item)
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
            os.write(self._write, b"\0")

    def drain(self) -> None:
        # Empty the pipe before looking at the queue: a post that lands after the look
        # has written again and wakes the loop once more.
        with contextlib.suppress(BlockingIOError):
            os.read(self._read, 65536)
        items, handler = self._items, self._handler
        while items:
            handler(items.popleft())

    def close(self) -> None:
        """Handle what is still queued, then release the pipe. Idempotent."""
        if self._read < 0:
            return
        self._loop.remove_reader(self._read)
        self.drain()
        os.close(self._read)
        os.close(self._write)
        self._read = self._write = -1
