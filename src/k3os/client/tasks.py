"""Long-lived work as named tasks in one TaskGroup, with an explicit shutdown.

`run_tasks` starts each named coroutine as a task and returns when all have finished, or
when `stop` is set (it then cancels them and waits for their cleanup). A task that fails
cancels the others and its error comes out as an ExceptionGroup, as TaskGroup does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any

__all__ = ["run_tasks"]


async def run_tasks(
    named: Mapping[str, Coroutine[Any, Any, None]], *, stop: asyncio.Event | None = None
) -> None:
    async with asyncio.TaskGroup() as tg:
        tasks = {tg.create_task(coro, name=name) for name, coro in named.items()}
        if stop is None:
            return
        stopping = tg.create_task(_wait(stop), name="stop")
        pending = set(tasks)
        while pending and not stop.is_set():
            _, still = await asyncio.wait(pending | {stopping}, return_when=asyncio.FIRST_COMPLETED)
            pending = still - {stopping}
        stopping.cancel()
        for task in pending:
            task.cancel()


async def _wait(event: asyncio.Event) -> None:
    await event.wait()
