"""A controller: workers that take keys from a work queue and reconcile them.

A reconciler returns None (done), or a number of seconds after which to look again.
What happens when it raises is decided by `retry_for`, kopf-style: a PermanentError drops
the key until something enqueues it again, a TemporaryError requeues after its delay (or
the key's backoff), and any other error is treated as temporary with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from k3os.client.errors import ClientError, ConflictError, PermanentError, TemporaryError
from k3os.client.workqueue import QueueShutDown, WorkQueue

__all__ = ["Controller", "Retry", "retry_for"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Retry:
    """Whether to retry a failed key, and when (None: after the key's backoff)."""

    retry: bool
    delay: float | None = None


def retry_for(error: BaseException) -> Retry:
    if isinstance(error, PermanentError):
        return Retry(False)
    if isinstance(error, TemporaryError):
        return Retry(True, error.delay)
    return Retry(True)


class Controller(Generic[K]):
    def __init__(
        self,
        name: str,
        reconcile: Callable[[K], Awaitable[float | None]],
        *,
        queue: WorkQueue[K] | None = None,
        workers: int = 1,
    ) -> None:
        self.name = name
        self.reconcile = reconcile
        self.queue: WorkQueue[K] = queue if queue is not None else WorkQueue(name=name)
        self.workers = workers

    async def run(self) -> None:
        """Run the workers until cancelled; the queue is shut down on the way out."""
        try:
            async with asyncio.TaskGroup() as tg:
                for i in range(self.workers):
                    tg.create_task(self._work(), name=f"{self.name}:worker-{i}")
        finally:
            self.queue.shut_down()

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except QueueShutDown:
                return
            try:
                await self.process(key)
            finally:
                self.queue.done(key)

    async def process(self, key: K) -> None:
        """Reconcile one key and requeue it as its outcome says."""
        try:
            again = await self.reconcile(key)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            decision = retry_for(e)
            self._log_failure(key, e, decision)
            if not decision.retry:
                self.queue.forget(key)
            elif decision.delay is None:
                self.queue.add_rate_limited(key)
            else:
                self.queue.add_after(key, decision.delay)
            return
        self.queue.forget(key)
        if again is not None:
            self.queue.add_after(key, again)

    def _log_failure(self, key: K, error: Exception, decision: Retry) -> None:
        if isinstance(error, ConflictError | TemporaryError):
            log.debug("%s: %s: %s (will retry)", self.name, key, error)
        elif isinstance(error, PermanentError):
            log.warning("%s: %s: %s (not retrying)", self.name, key, error)
        elif isinstance(error, ClientError):  # the API is unreachable or refused: one line
            log.warning("%s: %s: %s (will retry)", self.name, key, error)
        else:
            log.error("%s: %s failed, will retry", self.name, key, exc_info=error)
