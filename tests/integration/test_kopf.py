"""A real kopf operator (tests/integration/_kopf_operator.py, a separate `kopf run` process on
the admin kubeconfig) reconciles a CRD on a real `k3os server`: create (kopf's finalizer, a
status patch, an Event), update, and delete through the finalizer. This needs what kopf
relies on: discovery, cluster-wide list+watch of a custom resource, merge patches of the
object and of its status subresource, and finalizers holding a deletion."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from k3os.client import Kube, NotFoundError, connect_kubeconfig
from k3os.client.resources import EVENTS, ResourceType
from tests.integration._apiserver import RunningServer, free_port
from tests.integration._controlplane import eventually, start_server

pytestmark = pytest.mark.integration

OPERATOR = Path(__file__).with_name("_kopf_operator.py")
CRDS = ResourceType(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False
)
GADGETS = ResourceType("kopf.k3os.io", "v1", "gadgets", "Gadget", True)
FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"

CRD = {
    "metadata": {"name": "gadgets.kopf.k3os.io"},
    "spec": {
        "group": "kopf.k3os.io",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


@dataclass
class Operator:
    server: RunningServer
    notes: Path
    log: Path


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    root = tmp_path_factory.mktemp("kopf")
    data = root / "data"
    data.mkdir()
    server = start_server(data, free_port(), ["--disable-agent", "--disable-controller-manager"])
    try:
        asyncio.run(_install_crd(server))
        notes, log = root / "gadgets.log", root / "kopf.log"
        env = dict(os.environ, KUBECONFIG=str(server.kubeconfig), GADGET_LOG=str(notes))
        cmd = [sys.executable, "-m", "kopf", "run", "--standalone", "-A", str(OPERATOR)]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
        try:
            yield Operator(server, notes, log)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        server.stop()


async def _install_crd(server: RunningServer) -> None:
    async with connect_kubeconfig(server.kubeconfig) as kube:
        await kube.create(CRDS, CRD)

        async def served() -> bool:
            try:
                await kube.list(GADGETS, "default")
            except NotFoundError:
                return False
            return True

        await eventually(served, what="the CRD served")


@pytest.fixture
async def kube(operator: Operator) -> AsyncIterator[Kube]:
    async with connect_kubeconfig(operator.server.kubeconfig) as k:
        yield k


def notes(op: Operator) -> list[str]:
    return op.notes.read_text().splitlines() if op.notes.exists() else []


async def test_kopf_reconciles_create_update_delete(operator: Operator, kube: Kube) -> None:
    gadget = {"metadata": {"name": "g1", "namespace": "default"}, "spec": {"size": 1}}
    await kube.create(GADGETS, gadget)

    async def status_is(phase: str) -> dict | None:  # type: ignore[type-arg]
        obj = await kube.get(GADGETS, "g1", "default")
        return obj if (obj.get("status") or {}).get("phase") == phase else None

    created = await eventually(lambda: status_is("Created"), what="kopf's create handler")
    assert FINALIZER in created["metadata"]["finalizers"]
    assert created["status"]["size"] == 1
    assert created["status"]["created"] == {"seen": 1}  # the handler's result, by kopf
    assert "kopf.zalando.org/last-handled-configuration" in created["metadata"]["annotations"]

    async def event() -> bool:
        items = (await kube.list(EVENTS, "default")).items
        return any(e["reason"] == "Created" and e["involvedObject"]["name"] == "g1" for e in items)

    await eventually(event, what="kopf's Event")

    await kube.patch(GADGETS, "g1", {"spec": {"size": 5}}, namespace="default")
    resized = await eventually(lambda: status_is("Resized"), what="kopf's update handler")
    assert resized["status"]["size"] == 5

    await kube.delete(GADGETS, "g1", "default")

    async def gone() -> bool:
        try:
            await kube.get(GADGETS, "g1", "default")
        except NotFoundError:
            return True
        return False

    await eventually(gone, what="deletion through kopf's finalizer")
    assert notes(operator) == ["created g1", "resized g1 1->5", "deleted g1"]
    log = operator.log.read_text()
    assert "[ERROR" not in log and "Traceback" not in log, log
