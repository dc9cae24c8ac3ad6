"""Where the agent runs the config engine: reading the node's own config, applying a
rendered one, and the node settings its Node is registered with.

The engine (`k3os.config`, `k3os.host`) validates with pydantic models whose schema alone
is ~10 MiB once imported, and the agent needs it only at start-up and when a config
changes. `ConfigWork(isolated=True)`, what `run_agent` uses, runs each of these in a
short-lived child interpreter (`k3os.agent.isolate`), so the agent at rest never holds it;
`isolated=False` runs them in a worker thread of this process (tests, tools).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from k3os.agent.facts import NodeSettings
from k3os.agent.isolate import ChildFailed, run_in_child

__all__ = ["ConfigWork"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

APPLY_LIMIT = 600.0
"""An apply may run commands (sysctl, modules, a hostname); it is given this long."""


class ConfigWork:
    def __init__(self, *, isolated: bool = False) -> None:
        self.isolated = isolated
        self._early: tuple[Path, asyncio.Task[NodeSettings]] | None = None

    def start_node_settings(self, root: Path) -> None:
        """Start reading the node settings now (alongside the join, at start-up); the next
        `node_settings(root)` takes this answer."""
        self.close()
        self._early = (root, asyncio.create_task(self._node_settings(root)))

    def close(self) -> None:
        """Cancel a reading nobody took."""
        if self._early is not None:
            task, self._early = self._early[1], None
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # retrieved: nobody is waiting for it

    async def local_config(self, root: Path) -> Obj | None:
        """The node's own config (every source on the box, merged), or None if unreadable."""
        from k3os.agent import configsync

        if not self.isolated:
            return await asyncio.to_thread(configsync.local_config, root)
        try:
            data = await run_in_child(f"{__name__}:child_local_config", [str(root)], limit=60)
        except ChildFailed as e:
            log.warning("local config unreadable: %s", e)
            return None
        return data if isinstance(data, dict) else None

    async def apply_config(self, config: Obj, root: Path) -> tuple[str | None, str]:
        """Validate and apply `config` on `root`: (error or None, a one-line summary)."""
        from k3os.agent import configsync

        if not self.isolated:
            return await asyncio.to_thread(configsync.apply_config, config, root)
        try:
            error, summary = await run_in_child(
                f"{__name__}:child_apply_config", [config, str(root)], limit=APPLY_LIMIT
            )
        except ChildFailed as e:
            return f"internal error: {e}", ""
        return (str(error) if error is not None else None), str(summary)

    async def node_settings(self, root: Path) -> NodeSettings:
        """Labels, taints and mode: from agent.yaml (read here), else the config engine."""
        if self._early is not None and self._early[0] == root:
            task, self._early = self._early[1], None
            return await task
        return await self._node_settings(root)

    async def _node_settings(self, root: Path) -> NodeSettings:
        from k3os.agent import facts

        written = facts.agent_yaml_settings(root)
        if written is not None:
            return written
        if not self.isolated:
            return await asyncio.to_thread(facts.config_settings, root)
        try:
            labels, taints, mode = await run_in_child(
                f"{__name__}:child_node_settings", [str(root)], limit=60
            )
        except ChildFailed as e:
            log.warning("node settings unreadable: %s", e)
            return {}, [], None
        return dict(labels), list(taints), mode


# The children's side: JSON in, JSON out.


def child_local_config(root: str) -> Obj | None:
    from k3os.agent.configsync import local_config

    return local_config(Path(root))


def child_apply_config(config: Obj, root: str) -> list[str | None]:
    from k3os.agent.configsync import apply_config

    error, summary = apply_config(config, Path(root))
    return [error, summary]


def child_node_settings(root: str) -> list[Any]:
    from k3os.agent.facts import config_settings

    return list(config_settings(Path(root)))
