"""The fleet controllers as the controller manager runs them: NodeConfig rendering and
upgrade Plans. Each is built at once (so its informers join the manager's shared set) and
its coroutine first makes sure the fleet CRDs are installed and served.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from k3os.client import InformerSet, Kube
from k3os.controllers.fleetapi import ensure_crds
from k3os.controllers.nodeconfig import NodeConfigController
from k3os.controllers.plan import PlanController, PlanSettings

__all__ = ["nodeconfig_runner", "plan_runner"]

Runner = Coroutine[Any, Any, None]


def nodeconfig_runner(kube: Kube, informers: InformerSet) -> Runner:
    controller = NodeConfigController(kube, informers)

    async def run() -> None:
        await ensure_crds(kube)
        await controller.run()

    return run()


def plan_runner(kube: Kube, informers: InformerSet, settings: PlanSettings | None = None) -> Runner:
    controller = PlanController(kube, informers, settings=settings)

    async def run() -> None:
        await ensure_crds(kube)
        await controller.run()

    return run()
