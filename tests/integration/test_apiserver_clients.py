"""The Python Kubernetes clients people use work unchanged against `k3os server`:
the official client (CRUD, optimistic concurrency, watch with resume), kr8s and lightkube."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration._apiserver import RunningServer, running_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("clients") / "data") as s:
        yield s


def _official(server: RunningServer):  # type: ignore[no-untyped-def]
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(server.kubeconfig))
    return client, api_client


def test_official_client_crud_and_conflict(server: RunningServer) -> None:
    client, api_client = _official(server)
    with api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py")))
        cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c1"), data={"a": "1"})
        made = core.create_namespaced_config_map("py", cm)
        assert made.metadata.uid and made.metadata.resource_version
        got = core.read_namespaced_config_map("c1", "py")
        got.data["a"] = "2"
        core.replace_namespaced_config_map("c1", "py", got)
        stale = got
        stale.data["a"] = "3"
        with pytest.raises(client.ApiException) as conflict:
            core.replace_namespaced_config_map("c1", "py", stale)
        assert conflict.value.status == 409
        core.patch_namespaced_config_map("c1", "py", {"data": {"b": "x"}})
        assert core.read_namespaced_config_map("c1", "py").data == {"a": "2", "b": "x"}
        names = [c.metadata.name for c in core.list_namespaced_config_map("py").items]
        assert names == ["c1"]
        core.delete_namespaced_config_map("c1", "py")
        with pytest.raises(client.ApiException) as missing:
            core.read_namespaced_config_map("c1", "py")
        assert missing.value.status == 404
        lease_api = client.CoordinationV1Api(api_client)
        lease = client.V1Lease(
            metadata=client.V1ObjectMeta(name="leader"),
            spec=client.V1LeaseSpec(holder_identity="me", lease_duration_seconds=15),
        )
        lease_api.create_namespaced_lease("py", lease)
        assert lease_api.read_namespaced_lease("leader", "py").spec.holder_identity == "me"


def test_official_client_watch_resumes_from_resource_version(server: RunningServer) -> None:
    from kubernetes import watch

    client, api_client = _official(server)
    with api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="pyw")))
        listing = core.list_namespaced_config_map("pyw")
        start = listing.metadata.resource_version

        def make(name: str) -> None:
            body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"k": name})
            core.create_namespaced_config_map("pyw", body)

        make("first")
        seen: list[tuple[str, str, str]] = []
        w = watch.Watch()
        for event in w.stream(
            core.list_namespaced_config_map, "pyw", resource_version=start, timeout_seconds=5
        ):
            obj = event["object"]
            seen.append((event["type"], obj.metadata.name, obj.metadata.resource_version))
            w.stop()
        assert seen[0][:2] == ("ADDED", "first")
        make("second")
        core.delete_namespaced_config_map("first", "pyw")
        resumed = []
        for event in w.stream(
            core.list_namespaced_config_map, "pyw", resource_version=seen[0][2], timeout_seconds=5
        ):
            resumed.append((event["type"], event["object"].metadata.name))
            if len(resumed) == 2:
                w.stop()
        assert resumed == [("ADDED", "second"), ("DELETED", "first")]


@pytest.mark.filterwarnings("ignore:Kubernetes version .* is not supported:UserWarning")
def test_kr8s_crud_and_watch(server: RunningServer) -> None:
    async def scenario() -> None:
        import kr8s.asyncio
        from kr8s.asyncio.objects import ConfigMap, Namespace

        api = await kr8s.asyncio.api(kubeconfig=str(server.kubeconfig))
        ns = await Namespace({"metadata": {"name": "kr8s"}}, api=api)
        await ns.create()
        cm = await ConfigMap(
            {"metadata": {"name": "k1", "namespace": "kr8s"}, "data": {"a": "1"}}, api=api
        )
        await cm.create()
        await cm.patch({"data": {"a": "2"}})
        await cm.refresh()
        assert cm.raw["data"] == {"a": "2"}
        events: list[tuple[str, str]] = []

        async def watch() -> None:
            async for kind, obj in api.watch("configmaps", namespace="kr8s"):
                events.append((kind, obj.name))
                if kind == "DELETED":
                    return

        task = asyncio.create_task(watch())
        await asyncio.sleep(0.5)
        await cm.delete()
        await asyncio.wait_for(task, 15)
        assert ("DELETED", "k1") in events
        found = [c.name async for c in api.get("configmaps", namespace="kr8s")]
        assert found == []
        # kr8s keeps its clients in a module-level cache and offers no close: its HTTP
        # session would outlive this event loop and be collected, still connected, later.
        session = getattr(api, "_session", None)
        if session is not None:
            await session.aclose()

    asyncio.run(scenario())


def test_lightkube_crud_and_watch(server: RunningServer) -> None:
    from lightkube import Client, KubeConfig

    with Client(KubeConfig.from_file(str(server.kubeconfig))) as lk:
        _lightkube_scenario(lk)


def _lightkube_scenario(lk: Any) -> None:
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap, Namespace

    lk.create(Namespace(metadata=ObjectMeta(name="lk")))
    lk.create(ConfigMap(metadata=ObjectMeta(name="l1", namespace="lk"), data={"a": "1"}))
    lk.patch(ConfigMap, "l1", {"data": {"b": "2"}}, namespace="lk")  # strategic merge
    assert lk.get(ConfigMap, "l1", namespace="lk").data == {"a": "1", "b": "2"}
    applied = ConfigMap(
        apiVersion="v1", kind="ConfigMap",
        metadata=ObjectMeta(name="l2", namespace="lk"), data={"z": "9"},
    )  # fmt: skip
    lk.apply(applied, field_manager="lightkube-test")
    assert lk.get(ConfigMap, "l2", namespace="lk").data == {"z": "9"}
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def watch() -> None:
        stream = lk.watch(ConfigMap, namespace="lk")
        try:
            for op, obj in stream:
                seen.append((op, obj.metadata.name))
                if op == "DELETED":
                    done.set()
                    return
        finally:
            stream.close()

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    lk.delete(ConfigMap, "l1", namespace="lk")
    assert done.wait(15)
    t.join(10)
    assert ("ADDED", "l1") in seen and ("DELETED", "l1") in seen
