"""What every namespace holds: the `default` ServiceAccount and the `kube-root-ca.crt`
ConfigMap with the cluster CA (`ca.crt`), as upstream's serviceaccounts-controller and
root-ca-cert-publisher keep them. Both are created in each active namespace, re-created
when deleted, and the ConfigMap is put right when its data drifts.
"""

from __future__ import annotations

import logging
from typing import Any

from k3os.client import ConflictError, Controller, InformerSet, Kube, NotFoundError
from k3os.client.resources import CONFIG_MAPS, NAMESPACES, SERVICE_ACCOUNTS
from k3os.controllers._objects import is_deleting, meta

__all__ = ["DEFAULT_SERVICE_ACCOUNT", "ROOT_CA_CONFIGMAP", "NamespaceDefaultsController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DEFAULT_SERVICE_ACCOUNT = "default"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using "
    "internal endpoints such as the internal service IP or kubernetes.default.svc. "
    "No other usage is guaranteed across distributions of Kubernetes clusters."
)


class NamespaceDefaultsController:
    def __init__(self, kube: Kube, informers: InformerSet, *, ca_pem: str) -> None:
        self.kube = kube
        self.ca_pem = ca_pem
        self.namespaces = informers.get(NAMESPACES)
        self.accounts = informers.get(
            SERVICE_ACCOUNTS, field_selector=f"metadata.name={DEFAULT_SERVICE_ACCOUNT}"
        )
        self.configmaps = informers.get(
            CONFIG_MAPS, field_selector=f"metadata.name={ROOT_CA_CONFIGMAP}"
        )
        self.controller: Controller[str] = Controller("namespace-defaults", self.reconcile)
        self.namespaces.add_handler(self._on_namespace)
        self.accounts.add_handler(self._on_namespaced)
        self.configmaps.add_handler(self._on_namespaced)

    def _on_namespace(self, change: str, obj: Obj, old: Obj | None) -> None:
        if change != "DELETED" and not is_deleting(obj):
            self.controller.queue.add(str(meta(obj)["name"]))

    def _on_namespaced(self, change: str, obj: Obj, old: Obj | None) -> None:
        self.controller.queue.add(str(meta(obj).get("namespace") or ""))

    async def run(self) -> None:
        await self.controller.run()

    async def reconcile(self, namespace: str) -> float | None:
        for informer in (self.namespaces, self.accounts, self.configmaps):
            await informer.wait_synced()
        ns = self.namespaces.cache.get(namespace)
        if ns is None or is_deleting(ns):
            return None
        await self._ensure_account(namespace)
        await self._ensure_root_ca(namespace)
        return None

    async def _ensure_account(self, namespace: str) -> None:
        if self.accounts.cache.get(DEFAULT_SERVICE_ACCOUNT, namespace) is not None:
            return
        try:
            await self.kube.create(
                SERVICE_ACCOUNTS,
                {"metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": namespace}},
            )
            log.info("created ServiceAccount %s/%s", namespace, DEFAULT_SERVICE_ACCOUNT)
        except ConflictError:
            return  # it exists; the informer has not seen it yet
        except NotFoundError:
            return  # the namespace went away meanwhile

    async def _ensure_root_ca(self, namespace: str) -> None:
        current = self.configmaps.cache.get(ROOT_CA_CONFIGMAP, namespace)
        data = {"ca.crt": self.ca_pem}
        if current is None:
            body: Obj = {
                "metadata": {
                    "name": ROOT_CA_CONFIGMAP,
                    "namespace": namespace,
                    "annotations": {"kubernetes.io/description": _DESCRIPTION},
                },
                "data": data,
            }
            try:
                await self.kube.create(CONFIG_MAPS, body)
                log.info("created ConfigMap %s/%s", namespace, ROOT_CA_CONFIGMAP)
            except (ConflictError, NotFoundError):
                return
        elif current.get("data") != data or current.get("binaryData"):
            fixed = {k: v for k, v in current.items() if k != "binaryData"}
            fixed["data"] = data
            await self.kube.replace(CONFIG_MAPS, fixed)  # a conflict retries the key
            log.info("restored ConfigMap %s/%s", namespace, ROOT_CA_CONFIGMAP)
