"""The fleet controllers' support modules: the metrics registry and its text format, the
event recorder, CRD installation over the API, and the hand-off annotations."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from k3os.apis import shipped_crds
from k3os.apis.handoff import (
    UpgradeOutcome,
    UpgradeRequest,
    outcome_key,
    read_outcome,
    read_request,
    request_key,
    requests_on,
)
from k3os.client import ApiStatusError, TransportError
from k3os.client.resources import EVENTS, NAMESPACES, NODES
from k3os.controllers.events import EventRecorder
from k3os.controllers.fleetapi import CRDS, FLEET_NAMESPACE, covers, ensure_crds
from k3os.controllers.metrics import Registry
from tests.unit.controllers.fleetfakes import FleetKube


def test_metrics_render_in_the_text_format() -> None:
    reg = Registry()
    hits = reg.counter("t_hits_total", "Hits.", ("path",))
    temp = reg.gauge("t_temp", "Temperature.")
    lat = reg.histogram("t_seconds", "Latency.", buckets=(1.0, 5.0))
    hits.inc(path='/a"b')
    hits.inc(2, path='/a"b')
    temp.set(1.5)
    lat.observe(0.5)
    lat.observe(3)
    lat.observe(math.inf)
    text = reg.render()
    assert '# TYPE t_hits_total counter\nt_hits_total{path="/a\\"b"} 3' in text
    assert "t_temp 1.5" in text
    assert 't_seconds_bucket{le="1"} 1' in text
    assert 't_seconds_bucket{le="5"} 2' in text
    assert 't_seconds_bucket{le="+Inf"} 3' in text
    assert "t_seconds_count 3" in text and "t_seconds_sum +Inf" in text
    assert hits.value(path='/a"b') == 3 and lat.count() == 3
    assert reg.counter("t_hits_total", "again", ("path",)) is hits
    with pytest.raises(ValueError, match="already registered"):
        reg.gauge("t_hits_total", "clash")
    with pytest.raises(ValueError, match="expected labels"):
        hits.inc(other="x")
    with pytest.raises(ValueError, match="only goes up"):
        hits.inc(-1, path="x")


def test_gauges_drop_series_and_collectors_run_at_render() -> None:
    reg = Registry()
    g = reg.gauge("t_nodes", "Nodes.", ("plan", "state"))
    g.set(1, plan="a", state="Done")
    g.set(2, plan="b", state="Done")
    g.remove_matching(plan="a")
    assert g.value(plan="a", state="Done") is None and g.value(plan="b", state="Done") == 2
    calls: list[int] = []

    def collect() -> None:
        calls.append(1)
        g.set(float("nan"), plan="c", state="x")

    reg.add_collector(collect)
    assert 't_nodes{plan="c",state="x"} NaN' in reg.render()
    reg.remove_collector(collect)
    reg.remove_collector(collect)
    reg.render()
    assert calls == [1]


async def test_events_are_recorded_aggregated_and_never_fail() -> None:
    kube = FleetKube()
    rec = EventRecorder(kube, "test")  # type: ignore[arg-type]
    node = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1", "uid": "u1"}}
    await rec.record(node, "Cordoned", "by plan p")
    await rec.record(node, "Cordoned", "by plan p")
    await rec.record(node, "Drained", "x" * 5000, type="Warning")
    events = kube.of(EVENTS)
    assert len(events) == 2
    cordoned = next(e for e in events if e["reason"] == "Cordoned")
    assert cordoned["count"] == 2 and cordoned["metadata"]["namespace"] == "default"
    assert cordoned["involvedObject"] == {
        "kind": "Node",
        "apiVersion": "v1",
        "name": "n1",
        "uid": "u1",
    }
    drained = next(e for e in events if e["reason"] == "Drained")
    assert len(drained["message"]) == 1024 and drained["type"] == "Warning"

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise TransportError("down")

    kube.create = refuse  # type: ignore[method-assign]
    await rec.record(node, "Other", "lost")
    assert rec.recorded == 3


async def test_crds_are_installed_kept_and_updated() -> None:
    kube = FleetKube()
    await ensure_crds(kube)  # type: ignore[arg-type]
    names = sorted(c["metadata"]["name"] for c in kube.of(CRDS))
    assert names == sorted(c["metadata"]["name"] for c in shipped_crds())
    # the server's defaults do not count as a difference
    crd = kube.of(CRDS)[0]
    crd["spec"]["conversion"] = {"strategy": "None"}
    kube.put(CRDS, crd)
    replaced = len([c for c in kube.calls if c[0] == "replace"])
    await ensure_crds(kube)  # type: ignore[arg-type]
    assert len([c for c in kube.calls if c[0] == "replace"]) == replaced
    # a changed spec is put back
    crd["spec"]["names"]["shortNames"] = ["zz"]
    kube.put(CRDS, crd)
    await ensure_crds(kube)  # type: ignore[arg-type]
    assert kube.peek(CRDS, crd["metadata"]["name"])["spec"]["names"]["shortNames"] != ["zz"]


async def test_the_fleet_namespace_is_made_once_and_a_refusal_is_not_fatal() -> None:
    kube = FleetKube()
    await ensure_crds(kube)  # type: ignore[arg-type]
    made = kube.peek(NAMESPACES, FLEET_NAMESPACE)
    await ensure_crds(kube)  # type: ignore[arg-type]  # there already: kept as it is
    assert kube.peek(NAMESPACES, FLEET_NAMESPACE)["metadata"]["uid"] == made["metadata"]["uid"]
    kube = FleetKube()
    original = kube.create

    async def no_namespaces(rt: Any, obj: Any, namespace: str = "") -> Any:
        if rt is NAMESPACES:
            raise ApiStatusError(403, "Forbidden", "namespaces is forbidden", {})
        return await original(rt, obj, namespace)

    kube.create = no_namespaces  # type: ignore[method-assign]
    await asyncio.wait_for(ensure_crds(kube), 5)  # type: ignore[arg-type]
    assert kube.of(CRDS) and not kube.of(NAMESPACES)


async def test_crd_installation_retries_until_served() -> None:
    kube = FleetKube()
    failures = [ApiStatusError(503, "ServiceUnavailable", "starting", {})]
    original = kube.list

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await original(*args, **kwargs)

    kube.list = flaky  # type: ignore[method-assign]
    await ensure_crds(kube)  # type: ignore[arg-type]
    assert not failures


@pytest.mark.parametrize(
    ("stored", "wanted", "expected"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": [{"x": 1, "y": 2}]}, {"a": [{"x": 1}]}, True),
        ({"a": [1, 2]}, {"a": [1]}, False),
        ({"a": 1}, {"a": {"b": 1}}, False),
        (None, [1], False),
    ],
)
def test_covers(stored: Any, wanted: Any, expected: bool) -> None:
    assert covers(stored, wanted) is expected


def test_handoff_annotations_round_trip_and_tolerate_garbage() -> None:
    request = UpgradeRequest(plan="ns/p", hash="h1", version="v2", image="k3os-v2.bundle")
    outcome = UpgradeOutcome(hash="h1", phase="Failed", version="v1", reason="RolledBack")
    annotations = {
        request_key("p"): request.encode(),
        outcome_key("p"): outcome.encode(),
        request_key("q"): "{not json",
        outcome_key("q"): "[]",
        "other": "x",
    }
    assert read_request(annotations, "p") == request
    assert read_outcome(annotations, "p") == outcome
    assert read_request(annotations, "q") is None and read_outcome(annotations, "q") is None
    assert read_request(annotations, "r") is None and read_outcome(annotations, "r") is None
    assert requests_on(annotations) == {"p": request}
    with pytest.raises(ValueError, match="cannot form a label key"):
        request_key("bad name")
    assert NODES.kind == "Node"
