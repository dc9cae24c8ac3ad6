"""The node agent: join, register, heartbeat, apply config, run upgrades.

Public API: `AgentSettings`, `default_node_name`, `run_agent(settings, stop)`. The agent
speaks to the cluster only over HTTPS through `k3os.client`, applies config through
`k3os.host` and upgrades through `k3os.image`; see docs/agent.md.
"""

from __future__ import annotations

import asyncio

from k3os.agent.settings import REBOOT_EXIT_CODE, AgentSettings, default_node_name

__all__ = ["REBOOT_EXIT_CODE", "AgentSettings", "default_node_name", "run_agent"]


async def run_agent(settings: AgentSettings, stop: asyncio.Event | None = None) -> int:
    """Run until `stop` is set (0) or a reboot is needed (REBOOT_EXIT_CODE)."""
    from k3os.agent.configwork import ConfigWork
    from k3os.agent.credentials import connect_agent
    from k3os.agent.runner import Agent

    # The config engine runs in child processes: the agent at rest never holds it. The
    # node's settings (for registering) are read while the join runs.
    work = ConfigWork(isolated=True)
    if settings.root is not None:
        work.start_node_settings(settings.root)
    try:
        kube = await connect_agent(settings)
    except BaseException:
        work.close()
        raise
    try:
        agent = Agent(settings, kube, work=work)
        if stop is not None:
            watcher = asyncio.create_task(_forward(stop, agent.stop))
        try:
            return await agent.run()
        finally:
            if stop is not None:
                watcher.cancel()
    finally:
        work.close()
        await kube.aclose()


async def _forward(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
