"""The manifests directory on a real `k3os server`: applied at start and on change with the
field manager k3os-deploy, an invalid file reported precisely with nothing of it applied,
`.skip`, a CRD and its objects in one file, and pruning only of objects that ask for it."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from k3os.client import Kube, NotFoundError, connect_kubeconfig
from k3os.client.resources import CONFIG_MAPS, NAMESPACES, ResourceType
from k3os.controllers.decisions.manifestfiles import record_name
from tests.integration._apiserver import RunningServer, free_port
from tests.integration._controlplane import eventually, start_server

pytestmark = pytest.mark.integration

WIDGETS = ResourceType("example.k3os.io", "v1", "widgets", "Widget", True)

AT_START = """\
apiVersion: v1
kind: Namespace
metadata:
  name: deployed
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: deployed
data:
  level: "1"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("manifests") / "data"
    (data / "server" / "manifests").mkdir(parents=True)
    (data / "server" / "manifests" / "base.yaml").write_text(AT_START)
    srv = start_server(data, free_port(), ["--disable-agent"])
    yield srv
    srv.stop()


@pytest.fixture
async def kube(server: RunningServer) -> AsyncIterator[Kube]:
    async with connect_kubeconfig(server.kubeconfig) as k:
        yield k


def manifests(server: RunningServer) -> Path:
    return server.data_dir / "server" / "manifests"


async def get(kube: Kube, rt: ResourceType, name: str, namespace: str = "") -> dict | None:  # type: ignore[type-arg]
    try:
        return await kube.get(rt, name, namespace)
    except NotFoundError:
        return None


async def record(kube: Kube, file: str) -> dict | None:  # type: ignore[type-arg]
    cm = await get(kube, CONFIG_MAPS, record_name(file), "kube-system")
    return cm.get("data") if cm else None


async def test_applied_at_start_and_on_change(server: RunningServer, kube: Kube) -> None:
    cm = await eventually(lambda: get(kube, CONFIG_MAPS, "settings", "deployed"), what="apply")
    assert cm["data"] == {"level": "1"}
    assert "k3os-deploy" in {m["manager"] for m in cm["metadata"]["managedFields"]}
    assert await get(kube, NAMESPACES, "deployed") is not None
    rec = await eventually(lambda: record(kube, "base.yaml"), what="the record")
    objects = json.loads(rec["objects"])
    assert [(o["kind"], o["namespace"], o["name"]) for o in objects] == [
        ("Namespace", "", "deployed"),
        ("ConfigMap", "deployed", "settings"),
    ]
    assert rec["error"] == ""

    (manifests(server) / "base.yaml").write_text(AT_START.replace('"1"', '"2"'))

    async def changed() -> bool:
        cm = await get(kube, CONFIG_MAPS, "settings", "deployed")
        return bool(cm and cm["data"] == {"level": "2"})

    await eventually(changed, what="the change applied")


async def test_an_invalid_file_applies_nothing(server: RunningServer, kube: Kube) -> None:
    bad = textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: would-be-fine
        data:
          a: b
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: broken
        data:
          key: [1, 2]
        ---
        apiVersion: v1
        kind: NoSuchKind
        metadata:
          name: nope
        """)
    (manifests(server) / "bad.yaml").write_text(bad)
    rec = await eventually(
        lambda: _with_error(record(kube, "bad.yaml")), what="the error in the record"
    )
    assert rec["error"].startswith("bad.yaml:8: ConfigMap default/broken: "), rec["error"]
    assert "data" in rec["error"]
    assert "line 15: NoSuchKind nope: the server serves no kind NoSuchKind in v1" in rec["error"]
    assert await get(kube, CONFIG_MAPS, "would-be-fine", "default") is None
    assert "bad.yaml:8: ConfigMap default/broken" in server.log.read_text()

    (manifests(server) / "syntax.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n  x: [\n")
    rec = await eventually(lambda: _with_error(record(kube, "syntax.yaml")), what="the error")
    assert rec["error"].startswith("syntax.yaml:3: invalid YAML"), rec["error"]


async def _with_error(pending: object) -> dict | None:  # type: ignore[type-arg]
    rec = await pending  # type: ignore[misc]
    return rec if rec and rec.get("error") else None


async def test_skip_and_crd_with_its_objects(server: RunningServer, kube: Kube) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: skipped, namespace: default}\n"
    (manifests(server) / "off.yaml.skip").write_text("")
    (manifests(server) / "off.yaml").write_text(cm)
    crd = textwrap.dedent("""\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.k3os.io}
        spec:
          group: example.k3os.io
          scope: Namespaced
          names: {plural: widgets, singular: widget, kind: Widget}
          versions:
          - name: v1
            served: true
            storage: true
            schema:
              openAPIV3Schema:
                type: object
                properties:
                  spec: {type: object, properties: {size: {type: integer}}}
        """)
    widget = "apiVersion: example.k3os.io/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n"
    (manifests(server) / "widget.yaml").write_text(widget + "---\n" + crd)
    got = await eventually(lambda: get(kube, WIDGETS, "w1", "default"), what="the widget")
    assert got["spec"] == {"size": 3}
    assert await get(kube, CONFIG_MAPS, "skipped", "default") is None
    assert await record(kube, "off.yaml") is None


async def test_removed_file_prunes_only_what_asked(server: RunningServer, kube: Kube) -> None:
    two = textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: pruned
          annotations: {k3os.io/prune: "true"}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: kept
        """)
    path = manifests(server) / "two.yaml"
    path.write_text(two)
    await eventually(lambda: get(kube, CONFIG_MAPS, "pruned", "default"), what="apply")
    await eventually(lambda: get(kube, CONFIG_MAPS, "kept", "default"), what="apply")
    await eventually(lambda: record(kube, "two.yaml"), what="the record")
    path.unlink()

    async def gone() -> bool:
        return await record(kube, "two.yaml") is None

    await eventually(gone, what="the record removed")
    assert await get(kube, CONFIG_MAPS, "pruned", "default") is None
    assert await get(kube, CONFIG_MAPS, "kept", "default") is not None
