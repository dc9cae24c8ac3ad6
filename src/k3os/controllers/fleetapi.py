"""The fleet's resource types, and installing their CRDs through the API.

The fleet controllers call `ensure_crds` before they start: each shipped CRD is created
if missing and replaced if the cluster holds a different spec, the fleet's namespace
(`k3os-system`, where k3OS kept its upgrade Plans) is created if missing, then the
controller waits until its resources are served. Doing it over the API (not inside the
server) keeps the controllers working against any cluster, a real k3s included; a server
that installed them already answers 409 and nothing changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from k3os.apis import shipped_crds
from k3os.client import ApiStatusError, ClientError, ConflictError, Kube, NotFoundError
from k3os.client.resources import NAMESPACES, ResourceType

__all__ = [
    "CRDS",
    "FLEET_NAMESPACE",
    "NODECONFIGS",
    "PLANS",
    "RENDERED",
    "SECRETS",
    "covers",
    "ensure_crds",
]

log = logging.getLogger(__name__)

PLANS = ResourceType("upgrade.cattle.io", "v1", "plans", "Plan", True)
NODECONFIGS = ResourceType("k3os.io", "v1", "nodeconfigs", "NodeConfig", False)
RENDERED = ResourceType("k3os.io", "v1", "renderednodeconfigs", "RenderedNodeConfig", False)
SECRETS = ResourceType("", "v1", "secrets", "Secret", True)
FLEET_NAMESPACE = "k3os-system"
"""Where k3OS's own Plans live (its shipped plan and the examples): made at start, so that
they apply as they are."""
CRDS = ResourceType(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False
)


async def _install(kube: Kube, crd: dict[str, Any]) -> None:
    name = crd["metadata"]["name"]
    try:
        await kube.create(CRDS, crd)
        log.info("installed CRD %s", name)
        return
    except ConflictError:
        pass
    current = await kube.get(CRDS, name)
    if covers(current.get("spec"), crd["spec"]):
        return
    body = {**crd, "metadata": {**crd["metadata"], **_keep(current)}}
    await kube.replace(CRDS, body)
    log.info("updated CRD %s", name)


async def _fleet_namespace(kube: Kube) -> None:
    try:
        await kube.create(NAMESPACES, {"metadata": {"name": FLEET_NAMESPACE}})
        log.info("created namespace %s", FLEET_NAMESPACE)
    except ConflictError:
        pass  # there already (or being deleted: it is made again at the next start)
    except ApiStatusError as e:
        if e.code != 403:
            raise
        # A cluster that lets the controllers install CRDs but not make namespaces: the
        # Plans' namespace is the operator's to make, and nothing else waits for it.
        log.warning("could not create namespace %s: %s", FLEET_NAMESPACE, e)


def covers(stored: Any, wanted: Any) -> bool:
    """Whether `stored` holds everything `wanted` sets (the server may add defaults)."""
    if isinstance(wanted, dict):
        return isinstance(stored, dict) and all(
            k in stored and covers(stored[k], v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(wanted)
            and all(covers(a, b) for a, b in zip(stored, wanted, strict=True))
        )
    return bool(stored == wanted)


def _keep(current: dict[str, Any]) -> dict[str, Any]:
    meta = current.get("metadata") or {}
    return {"resourceVersion": meta.get("resourceVersion")}


async def ensure_crds(
    kube: Kube, *, served: tuple[ResourceType, ...] = (PLANS, NODECONFIGS, RENDERED)
) -> None:
    """Install the shipped CRDs and return once `served` answer lists; retries until then."""
    delay = 0.2
    while True:
        try:
            for crd in shipped_crds():
                await _install(kube, crd)
            await _fleet_namespace(kube)
            for rt in served:
                await kube.list(rt, page_size=1)
            return
        except ClientError as e:
            level = logging.DEBUG if isinstance(e, NotFoundError | ConflictError) else logging.INFO
            log.log(level, "fleet CRDs not served yet: %s", e)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
