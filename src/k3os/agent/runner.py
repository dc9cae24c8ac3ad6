"""The agent's main loop: boot selection, registration, then its long-lived tasks side by side
(Lease renewal, node status, the rendered-config and upgrade watchers) until it is stopped
or asks for a reboot.

`Agent.run()` returns 0 when stopped and REBOOT_EXIT_CODE when an upgrade (or a failed
health check) needs a reboot; on a real box the reboot hook runs the reboot command
instead. Every task resumes on its own after the server goes away: informers re-watch
from the last resourceVersion, the heartbeats retry with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from k3os.agent.boot import confirm_trial, select_boot_version, state_of
from k3os.agent.configsync import RENDERED, ConfigSync
from k3os.agent.configwork import ConfigWork
from k3os.agent.events import EventRecorder
from k3os.agent.facts import NodeFacts, gather_facts
from k3os.agent.memory import release
from k3os.agent.node import NodeKeeper, seed_informer
from k3os.agent.settings import REBOOT_EXIT_CODE, AgentSettings
from k3os.agent.upgrades import Unmanaged, Upgrader
from k3os.client import InformerSet, Kube, run_tasks
from k3os.client.resources import NODES
from k3os.image import StateArea

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SETTLED_AFTER = 20.0
"""Seconds after registration when start-up is over and its heap is given back."""


def unmanaged_reason(root: Path | None, state: StateArea | None) -> str:
    """Why this agent cannot apply configs (no root) or run upgrades (no state area either),
    as a node's NodeConfig and Plan statuses will say it; "" when it can."""
    if root is None:
        return (
            "this node's agent manages no system: / is not a booted k3os system and the agent "
            "was given no --root"
        )
    if state is None:
        area = StateArea.for_root(root).path / "system"
        return f"no k3os system is installed under {root} ({area} is missing): nothing to upgrade"
    return ""


class Agent:
    def __init__(
        self, settings: AgentSettings, kube: Kube, *, work: ConfigWork | None = None
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.work = work or ConfigWork()
        self.state = state_of(settings.root)
        self.booted: str | None = None
        self._facts: NodeFacts | None = None
        self.stop = asyncio.Event()
        self.reboot_requested = False
        self.events = EventRecorder(kube, settings.node_name)
        self.keeper = NodeKeeper(kube, self.facts, lease_duration=settings.lease_duration)
        self.informers = InformerSet(kube)
        by_name = f"metadata.name={settings.node_name}"
        self.node_informer = self.informers.get(NODES, field_selector=by_name)
        self.upgrader: Upgrader | None = None
        self.unmanaged: Unmanaged | None = None
        # Every agent watches its rendered config and answers its upgrade requests; one with
        # no system to act on answers that it cannot (see `unmanaged_reason`), so neither a
        # NodeConfig nor a Plan that selects its node waits for it.
        rendered = self.rendered = self.informers.get(RENDERED, field_selector=by_name)
        rendered.stream_list = True  # its list and its watch: one request at every start
        self.config = ConfigSync(
            kube,
            settings.node_name,
            settings.root,
            settings.agent_dir / "applied-config.json",
            record=self._record,
            on_applied=self._config_applied,
            work=self.work,
            unmanaged=unmanaged_reason(settings.root, self.state),
        )
        rendered.add_handler(self.config.on_change)
        if self.state is not None:
            self.upgrader = Upgrader(
                kube,
                settings.node_name,
                self.state,
                settings.agent_dir / "upgrade.json",
                nodes=self.node_informer.cache,
                reboot=self.request_reboot,
                record=self._record,
                labels=self.keeper.pending_labels,
                written=self._outcome_written,
            )
            self.node_informer.add_handler(self.upgrader.on_change)
        else:
            self.unmanaged = Unmanaged(
                kube,
                settings.node_name,
                unmanaged_reason(settings.root, self.state),
                nodes=self.node_informer.cache,
                record=self._record,
            )
            self.node_informer.add_handler(self.unmanaged.on_change)

    def facts(self) -> NodeFacts:
        """The node's facts, read at start and again after each change of config or version
        (`refresh_facts`)."""
        if self._facts is None:
            self._facts = gather_facts(self.settings.root, self.settings.node_name, self.booted)
        return self._facts

    async def refresh_facts(self) -> None:
        root = self.settings.root
        node_settings = await self.work.node_settings(root) if root is not None else None
        self._facts = gather_facts(root, self.settings.node_name, self.booted, node_settings)

    async def _config_applied(self) -> None:
        await self.refresh_facts()
        await self.keeper.sync_labels()

    async def _record(self, obj: Obj, reason: str, message: str, type_: str) -> None:
        await self.events.record(
            obj, reason, message, "Warning" if type_ == "Warning" else "Normal"
        )

    def _outcome_written(self, node: Obj) -> None:
        self.keeper.node = node

    def request_reboot(self) -> None:
        """The reboot hook: a real reboot command, or (simulator) stop and start again."""
        if self.settings.reboot_command:
            from k3os.image.upgrade import command_reboot

            command_reboot(self.settings.reboot_command)()
        self.reboot_requested = True
        self.stop.set()

    async def run(self) -> int:
        if self.state is not None:
            self.booted = await asyncio.to_thread(select_boot_version, self.state)
        await self.refresh_facts()
        resuming = self.upgrader is not None and self.upgrader.on_trial()
        # Registration and the start's Lease renewal (an upgrade's health check waits for
        # it) go out together, two streams on the one HTTP/2 connection the client opens:
        # a rebooted node answers its upgrade one round trip sooner. Neither needs the
        # other (the Lease names the node, it holds no reference to the Node object).
        node, renewed = await asyncio.gather(
            self.keeper.register(defer_labels=resuming), self.keeper.first_renewal()
        )
        if not resuming:  # a start inside an upgrade is told by the upgrade's closing Event
            await self.events.record(
                node, "Starting", f"k3os agent started, booted {self.facts().version}"
            )
        self._seed_watches(self.keeper.node or node)
        tasks = {
            "lease": self.keeper.keep_lease(self.settings.renew_interval, renewed=renewed),
            "status": self.keeper.keep_status(self.settings.status_interval),
            **self.informers.coroutines(),
        }
        tasks["config"] = self.config.run()
        if self.upgrader is not None:
            tasks["upgrade-after-boot"] = self._after_boot()
        if self.unmanaged is not None:
            tasks["upgrade-refused"] = self.unmanaged.run()
        tasks["settle"] = self._settle()
        await run_tasks(tasks, stop=self.stop)
        return REBOOT_EXIT_CODE if self.reboot_requested else 0

    def _seed_watches(self, node: Obj) -> None:
        """Start the watch of the Node from the version registration wrote, without a list.
        The RenderedNodeConfig's informer streams its list (one request, a read of one key
        on the server, since it selects one name)."""
        answers = self.upgrader or self.unmanaged
        if seed_informer(self.node_informer, node) and answers is not None:
            answers.on_change("ADDED", node, None)  # what the list would have told

    async def _settle(self) -> None:
        """Once start-up is over, give the heap it used back (k3os.agent.memory)."""
        await asyncio.sleep(SETTLED_AFTER)
        release()

    async def _after_boot(self) -> None:
        """Finish an upgrade that rebooted into its version, then watch for new ones."""
        assert self.upgrader is not None and self.state is not None
        if await self.upgrader.resume():
            await self._health_check()
            return
        await self.upgrader.run()

    async def _health_check(self) -> None:
        assert self.upgrader is not None and self.state is not None
        # The node must have come back: its Lease renewed since this boot.
        await self.keeper.renewed.wait()
        settings = self.settings
        within = max(3 * settings.renew_interval, 5.0)
        outcome, message = await asyncio.to_thread(
            confirm_trial,
            self.state,
            command=settings.health_command,
            timeout=settings.health_timeout,
            interval=settings.health_interval,
            extra=[lambda: self.keeper.healthy(within)],
        )
        # No Event here: the upgrade's closing Event (after the fallback reboot, if it
        # failed) and its outcome carry how the check ended; the log has the detail.
        if outcome == "failed":
            log.warning("health check failed: %s; rebooting to fall back", message)
            self.request_reboot()  # boot selection falls back to the previous version
            return
        log.info("health check: %s", message)
        # The outcome's patch brings the labels to the committed version (registration left
        # them): one write answers the Plan and relabels the node.
        await self.upgrader.resume()
        await self.upgrader.run()
