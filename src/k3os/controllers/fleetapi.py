"""The fleet's resource types, and installing their CRDs through the API.

The fleet controllers call `ensure_crds` before they start: each shipped CRD is created
if missing and replaced if the cluster holds a different spec, then the controller waits
until its resources are served. Doing it over the API (not inside the server) keeps the
controllers working against any cluster, a real k3s included; a server that installed
them already answers 409 and nothing changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from k3os.apis import shipped_crds
from k3os.client import ClientError, ConflictError, Kube, NotFoundError
from k3os.client.resources import ResourceType

__all__ = [
    "CRDS",
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
            for rt in served:
                await kube.list(rt, page_size=1)
            return
        except ClientError as e:
            level = logging.DEBUG if isinstance(e, NotFoundError | ConflictError) else logging.INFO
            log.log(level, "fleet CRDs not served yet: %s", e)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
