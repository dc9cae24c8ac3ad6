"""The manifests controller against a small in-memory API (an httpx mock transport): the
paths the real-server test (tests/integration/test_manifests.py) cannot provoke at will —
API failures, objects not ours, kinds gone, retries of refused files."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from lightkube.config.kubeconfig import KubeConfig
from lightkube.config.models import Cluster, User

from k3os.client import FakeClock, Kube
from k3os.controllers import manifests as mod
from k3os.controllers.decisions.manifestfiles import record_name
from k3os.controllers.manifests import ManifestsController

Obj = dict[str, Any]
CM = "/api/v1/namespaces/{ns}/configmaps/{name}"


class FakeApi:
    """ConfigMaps and Namespaces in v1; anything else is not served."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.fail: dict[tuple[str, str], int] = {}  # (method, path) -> status, once
        self.deleted: list[str] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path, method = request.url.path, request.method
        params = dict(request.url.params)
        code = self.fail.pop((method, path), None)
        if code == 0:
            raise httpx2.ConnectError("refused")
        if code:
            return _status(code, "injected")
        if path == "/api/v1":
            resources = [
                {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
                {"name": "namespaces", "kind": "Namespace", "namespaced": False},
                {"name": "namespaces/status", "kind": "Namespace", "namespaced": False},
            ]
            return httpx2.Response(200, json={"resources": resources})
        if path.startswith("/apis/"):
            return _status(404, "not served")
        if method == "GET" and path.endswith("/configmaps"):
            items = [o for p, o in self.objects.items() if p.startswith(path + "/")]
            return httpx2.Response(200, json={"metadata": {"resourceVersion": "1"}, "items": items})
        if method == "GET":
            obj = self.objects.get(path)
            return httpx2.Response(200, json=obj) if obj else _status(404, "not found")
        if method == "DELETE":
            if path not in self.objects:
                return _status(404, "not found")
            self.deleted.append(path)
            return httpx2.Response(200, json=self.objects.pop(path))
        if method == "PATCH":
            body = json.loads(request.content)
            if (body.get("data") or {}).get("bad"):
                return _status(422, "data.bad: not allowed")
            if params.get("dryRun") == "All":
                return httpx2.Response(200, json=body)
            old = self.objects.get(path) or {}
            meta = body["metadata"]
            meta["uid"] = (old.get("metadata") or {}).get("uid") or str(uuid.uuid4())
            meta["managedFields"] = [{"manager": params["fieldManager"], "operation": "Apply"}]
            self.objects[path] = body
            return httpx2.Response(200, json=body)
        return _status(405, "method")


def _status(code: int, message: str) -> httpx2.Response:
    body = {"kind": "Status", "code": code, "message": message, "reason": "X"}
    return httpx2.Response(code, json=body)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def kube(api: FakeApi) -> Any:
    kc = KubeConfig.from_one(cluster=Cluster(server="https://api.test"), user=User(token="x"))
    config = kc.get()
    assert config is not None
    k = Kube(config, transport=httpx2.MockTransport(api.handle))
    yield k
    await k.aclose()


def controller(kube: Kube, directory: Path, clock: FakeClock) -> ManifestsController:
    return ManifestsController(kube, directory, interval=1.0, clock=clock)


def cm_doc(name: str, *, prune: bool = False, data: Obj | None = None) -> str:
    ann = ", annotations: {k3os.io/prune: 'true'}" if prune else ""
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "data": data or {}}
    text = json.dumps(doc)[:-1] + f', "metadata": {{"name": "{name}"{ann}}}}}'
    return text.replace("'true'", '"true"').replace("k3os.io/prune:", '"k3os.io/prune":')


def record(api: FakeApi, file: str) -> Obj:
    return api.objects[CM.format(ns="kube-system", name=record_name(file))]["data"]


async def test_a_missing_directory_is_empty(kube: Kube, tmp_path: Path) -> None:
    await controller(kube, tmp_path / "none", FakeClock()).sync_once()


async def test_object_leaving_its_file_is_pruned_if_asked(
    api: FakeApi, kube: Kube, tmp_path: Path
) -> None:
    clock = FakeClock()
    c = controller(kube, tmp_path, clock)
    f = tmp_path / "a.yaml"
    f.write_text(cm_doc("one", prune=True) + "\n---\n" + cm_doc("two"))
    await c.sync_once()
    assert CM.format(ns="default", name="one") in api.objects
    f.write_text(cm_doc("two") + "\n")
    await c.sync_once()
    assert api.deleted == [CM.format(ns="default", name="one")]
    # unchanged content (a touch) is not applied again
    f.write_text(cm_doc("two") + "\n")
    api.fail[("PATCH", CM.format(ns="default", name="two"))] = 500
    await c.sync_once()
    assert ("PATCH", CM.format(ns="default", name="two")) in api.fail


async def test_not_ours_or_not_served_is_not_pruned(
    api: FakeApi, kube: Kube, tmp_path: Path
) -> None:
    c = controller(kube, tmp_path, FakeClock())
    f = tmp_path / "a.yaml"
    f.write_text(cm_doc("mine", prune=True) + "\n---\n" + cm_doc("taken", prune=True))
    await c.sync_once()
    taken = api.objects[CM.format(ns="default", name="taken")]
    taken["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    rec = api.objects[CM.format(ns="kube-system", name=record_name("a.yaml"))]
    objects = json.loads(rec["data"]["objects"])
    objects.append(
        {"api_version": "x.io/v1", "kind": "W", "namespace": "", "name": "w", "prune": True}
    )
    objects.append(
        {"api_version": "v1", "kind": "ConfigMap", "namespace": "default", "name": "already"}
        | {"prune": True}
    )
    rec["data"]["objects"] = json.dumps(objects)
    api.fail[("DELETE", CM.format(ns="default", name="mine"))] = 403
    f.unlink()
    await c.sync_once()
    assert CM.format(ns="default", name="taken") in api.objects  # not applied by us
    assert CM.format(ns="default", name="mine") in api.objects  # the delete was refused
    assert CM.format(ns="kube-system", name=record_name("a.yaml")) not in api.objects


async def test_refused_files_are_retried_and_transient_failures_too(
    api: FakeApi, kube: Kube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    c = controller(kube, tmp_path, clock)
    (tmp_path / "bad.yaml").write_text(cm_doc("b", data={"bad": "1"}))
    await c.sync_once()
    assert record(api, "bad.yaml")["error"] == (
        "bad.yaml:1: ConfigMap default/b: data.bad: not allowed"
    )
    api.fail[("PATCH", CM.format(ns="default", name="b"))] = 500  # would show if tried
    await c.sync_once()
    assert ("PATCH", CM.format(ns="default", name="b")) in api.fail  # not yet due
    await clock.advance(mod.RETRY_FAILED)
    api.fail.clear()
    await c.sync_once()  # due: tried again, still refused
    assert "data.bad" in record(api, "bad.yaml")["error"]

    (tmp_path / "net.yaml").write_text(cm_doc("n"))
    api.fail[("GET", "/api/v1")] = 0  # discovery unreachable: tried on the next pass
    await c.sync_once()
    assert CM.format(ns="default", name="n") not in api.objects
    api.fail[("PATCH", CM.format(ns="default", name="n"))] = 409  # a conflict: again later
    await c.sync_once()
    assert CM.format(ns="default", name="n") not in api.objects
    api.fail[("PATCH", CM.format(ns="default", name="n"))] = 0  # the connection drops
    await c.sync_once()
    assert CM.format(ns="default", name="n") not in api.objects
    api.fail[("PATCH", CM.format(ns="default", name="n"))] = 400  # refused at apply time
    await c.sync_once()
    assert "injected" in record(api, "net.yaml")["error"]


async def test_run_survives_api_failures(api: FakeApi, kube: Kube, tmp_path: Path) -> None:
    clock = FakeClock()
    c = controller(kube, tmp_path, clock)
    api.fail[("GET", "/api/v1/namespaces/kube-system/configmaps")] = 503
    passes = 0

    async def sleep(seconds: float) -> None:
        nonlocal passes
        passes += 1
        if passes == 2:
            raise RuntimeError("enough")

    clock.sleep = sleep  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="enough"):
        await c.run()
    assert passes == 2


async def test_a_crd_kind_not_served_in_time_is_retried(
    api: FakeApi, kube: Kube, tmp_path: Path
) -> None:
    crd = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: ws.x.io}\nspec: {group: x.io, names: {kind: W}}\n"
    )
    (tmp_path / "crd.yaml").write_text(
        "apiVersion: x.io/v1\nkind: W\nmetadata: {name: w}\n---\n" + crd
    )
    await controller(kube, tmp_path, FakeClock()).sync_once()
    # apiextensions is not served by the fake either: the CRD is refused before any apply
    assert "serves no kind CustomResourceDefinition" in record(api, "crd.yaml")["error"]
