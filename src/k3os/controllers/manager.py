"""The controller manager: runs the cluster's housekeeping controllers on one leader.

Candidates (each `k3os server`, or `k3os controller-manager`) compete for a Lease; the
leader builds fresh informers and controllers and runs them as named tasks until it loses
the Lease or is stopped, then everything is cancelled and the Lease released. A controller
module is imported only when that controller is enabled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k3os.client import InformerSet, Kube, LeaderElector, LeaseSettings, run_tasks
from k3os.client.clock import Clock, SystemClock
from k3os.client.resources import NAMESPACES

__all__ = ["CONTROLLERS", "ControllerManager", "ManagerSettings"]

log = logging.getLogger(__name__)

CONTROLLERS = (
    "namespace",
    "garbage-collector",
    "namespace-defaults",
    "node-lifecycle",
    "nodeconfig",
    "plan",
    "manifests",
)


@dataclass(frozen=True)
class ManagerSettings:
    ca_pem: str = ""  # the cluster CA published in kube-root-ca.crt
    node_grace_period: float = 40.0
    lease: LeaseSettings = field(
        default_factory=lambda: LeaseSettings("k3os-controller-manager", "kube-system")
    )
    identity: str | None = None
    controllers: tuple[str, ...] = CONTROLLERS
    manifests_dir: Path | None = None  # None: the manifests controller has nothing to do
    manifests_interval: float = 2.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.controllers) - set(CONTROLLERS))
        if unknown:
            raise ValueError(
                f"unknown controllers {', '.join(unknown)}; known: {', '.join(CONTROLLERS)}"
            )


Runner = Coroutine[Any, Any, None]


class ControllerManager:
    def __init__(self, kube: Kube, settings: ManagerSettings, *, clock: Clock | None = None):
        self.kube = kube
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.elector = LeaderElector(kube, settings.lease, settings.identity, clock=self.clock)

    @property
    def identity(self) -> str:
        return self.elector.identity

    async def run(self) -> None:
        """Compete for the Lease and run the controllers while leading; until cancelled."""
        await self.elector.run(self.lead)

    async def lead(self) -> None:
        informers = InformerSet(self.kube, clock=self.clock)
        runners: dict[str, Runner] = {}
        for name in self.settings.controllers:
            runners[name] = _BUILDERS[name](self, informers)
        log.info("leading: running %s", ", ".join(self.settings.controllers))
        await run_tasks({**informers.coroutines(), **runners})


def _namespace(m: ControllerManager, informers: InformerSet) -> Runner:
    from k3os.controllers.namespaces import NamespaceController

    return NamespaceController(m.kube, informers.get(NAMESPACES), clock=m.clock).run()


def _gc(m: ControllerManager, informers: InformerSet) -> Runner:
    from k3os.controllers.gc import GarbageCollector

    return GarbageCollector(m.kube, clock=m.clock, shared=informers).run()


def _defaults(m: ControllerManager, informers: InformerSet) -> Runner:
    from k3os.controllers.defaults import NamespaceDefaultsController

    return NamespaceDefaultsController(m.kube, informers, ca_pem=m.settings.ca_pem).run()


def _node_lifecycle(m: ControllerManager, informers: InformerSet) -> Runner:
    from k3os.controllers.nodelifecycle import NodeLifecycleController

    grace = m.settings.node_grace_period
    return NodeLifecycleController(m.kube, informers, grace_period=grace, clock=m.clock).run()


def _nodeconfig(m: ControllerManager, informers: InformerSet) -> Runner:
    from k3os.controllers.fleet import nodeconfig_runner

    return nodeconfig_runner(m.kube, informers)


def _plan(m: ControllerManager, informers: InformerSet) -> Runner:
    from k3os.controllers.fleet import plan_runner

    return plan_runner(m.kube, informers)


def _manifests(m: ControllerManager, informers: InformerSet) -> Runner:
    from k3os.controllers.manifests import ManifestsController

    directory, interval = m.settings.manifests_dir, m.settings.manifests_interval
    if directory is None:
        return _idle()
    return ManifestsController(m.kube, directory, interval=interval, clock=m.clock).run()


async def _idle() -> None:
    await asyncio.Event().wait()


_BUILDERS: dict[str, Callable[[ControllerManager, InformerSet], Runner]] = {
    "namespace": _namespace,
    "garbage-collector": _gc,
    "namespace-defaults": _defaults,
    "node-lifecycle": _node_lifecycle,
    "nodeconfig": _nodeconfig,
    "plan": _plan,
    "manifests": _manifests,
}
