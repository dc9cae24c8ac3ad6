"""Table output: kubectl's columns for the built-in kinds, CRD columns, ages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from k3os.apiserver import tables as t
from k3os.apiserver.errors import BadRequest

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
CREATED = "2026-06-01T11:00:00Z"  # one hour before NOW


def _ago(seconds: int) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 30 * 60, "3h30m"),
        (7 * 3600 + 59 * 60, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (52 * 3600, "2d4h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (740 * 86400, "2y10d"),
        (8 * 365 * 86400, "8y"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert t.human_duration(seconds) == text


def test_since() -> None:
    assert t.since(CREATED, NOW) == "60m"
    assert t.since(None, NOW) == "<unknown>"
    assert t.since("garbage", NOW) == "<unknown>"
    assert t.since("2026-06-01T11:59:50", NOW.replace(tzinfo=None)) == "10s"


def _names(printer: t.Printer, wide: bool = False) -> list[str]:
    return [c["name"] for c in printer.columns if wide or c["priority"] == 0]


def test_node_columns_and_rows() -> None:
    printer = t.printer_for("", "nodes")
    assert [n.upper() for n in _names(printer)] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [n.upper() for n in _names(printer, wide=True)][5:] == [
        "INTERNAL-IP",
        "EXTERNAL-IP",
        "OS-IMAGE",
        "KERNEL-VERSION",
        "CONTAINER-RUNTIME",
    ]
    node = {
        "metadata": {
            "name": "n1",
            "creationTimestamp": CREATED,
            "labels": {
                "node-role.kubernetes.io/control-plane": "true",
                "node-role.kubernetes.io/master": "",
                "kubernetes.io/role": "edge",
                "topology.kubernetes.io/zone": "a",
            },
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "10.0.0.5"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.36.0+k3os",
                "osImage": "k3os 1.0",
                "kernelVersion": "6.1.0",
                "containerRuntimeVersion": "crun://1.8",
            },
        },
    }
    assert printer.row(node, NOW) == [
        "n1",
        "Ready,SchedulingDisabled",
        "control-plane,edge,master",
        "60m",
        "v1.36.0+k3os",
        "10.0.0.5",
        "<none>",
        "k3os 1.0",
        "6.1.0",
        "crun://1.8",
    ]
    bare = {"metadata": {"name": "n2"}}
    assert printer.row(bare, NOW) == [
        "n2",
        "Unknown",
        "<none>",
        "<unknown>",
        "",
        "<none>",
        "<none>",
        "<unknown>",
        "<unknown>",
        "<unknown>",
    ]
    assert printer.row({"metadata": {"labels": {"kubernetes.io/role": ""}}}, NOW)[2] == "<none>"
    not_ready = {
        "metadata": {"name": "n3"},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]},
    }
    assert printer.row(not_ready, NOW)[1] == "NotReady"


def _pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": CREATED},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
        "status": {"phase": "Running", "podIP": "10.42.0.7", **status},
    }


def _running(name: str, ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {}}}


@pytest.mark.parametrize(
    ("pod", "ready", "status", "restarts"),
    [
        (_pod(containerStatuses=[_running("a"), _running("b")]), "2/2", "Running", "0"),
        (
            _pod(containerStatuses=[_running("a"), _running("b", ready=False)]),
            "1/2",
            "Running",
            "0",
        ),
        (
            _pod(
                containerStatuses=[
                    _running("a"),
                    {
                        "name": "b",
                        "restartCount": 4,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"finishedAt": _ago(90), "exitCode": 1}},
                    },
                ]
            ),
            "1/2",
            "CrashLoopBackOff",
            "4 (90s ago)",
        ),
        (
            _pod(
                phase="Succeeded",
                containerStatuses=[
                    {"name": "a", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
                    {"name": "b", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
                ],
            ),
            "0/2",
            "Completed",
            "0",
        ),
        (
            _pod(
                conditions=[{"type": "Ready", "status": "False"}],
                containerStatuses=[
                    {"name": "a", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
                    _running("b"),
                ],
            ),
            "1/2",
            "NotReady",
            "0",
        ),
        (
            _pod(
                conditions=[{"type": "Ready", "status": "True"}],
                containerStatuses=[
                    _running("b"),
                    {"name": "a", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
                ],
            ),
            "1/2",
            "Running",
            "0",
        ),
        (
            _pod(
                containerStatuses=[
                    {"name": "a", "state": {"terminated": {"signal": 9, "exitCode": 137}}}
                ]
            ),
            "0/2",
            "Signal:9",
            "0",
        ),
        (
            _pod(containerStatuses=[{"name": "a", "state": {"terminated": {"exitCode": 2}}}]),
            "0/2",
            "ExitCode:2",
            "0",
        ),
        (_pod(phase="Pending"), "0/2", "Pending", "0"),
        (
            _pod(
                phase="Pending",
                conditions=[
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ],
            ),
            "0/2",
            "SchedulingGated",
            "0",
        ),
        (_pod(phase="Failed", reason="Evicted"), "0/2", "Evicted", "0"),
    ],
)
def test_pod_rows(pod: dict[str, Any], ready: str, status: str, restarts: str) -> None:
    row = t.printer_for("", "pods").row(pod, NOW)
    assert row[:5] == ["p", ready, status, restarts, "60m"]
    assert row[5:] == ["10.42.0.7", "n1", "<none>", "<none>"]


def _init_pod(*statuses: dict[str, Any], initialized: bool = False) -> dict[str, Any]:
    pod = _pod(phase="Pending", initContainerStatuses=list(statuses))
    pod["spec"]["initContainers"] = [
        {"name": "i1"},
        {"name": "i2"},
        {"name": "side", "restartPolicy": "Always"},
    ]
    if initialized:
        pod["status"]["conditions"] = [{"type": "Initialized", "status": "True"}]
    return pod


@pytest.mark.parametrize(
    ("pod", "status", "ready"),
    [
        (_init_pod({"name": "i1", "state": {"running": {}}}), "Init:0/3", "0/3"),
        (
            _init_pod(
                {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
                {"name": "i2", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
            ),
            "Init:ImagePullBackOff",
            "0/3",
        ),
        (
            _init_pod({"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}}),
            "Init:0/3",
            "0/3",
        ),
        (
            _init_pod({"name": "i1", "state": {"terminated": {"exitCode": 3}}}),
            "Init:ExitCode:3",
            "0/3",
        ),
        (
            _init_pod({"name": "i1", "state": {"terminated": {"reason": "Error", "exitCode": 1}}}),
            "Init:Error",
            "0/3",
        ),
        (
            _init_pod(
                {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
                {"name": "i2", "state": {"terminated": {"exitCode": 0}}},
                {"name": "side", "started": True, "ready": True, "state": {"running": {}}},
            ),
            "Pending",
            "1/3",
        ),
    ],
)
def test_pod_init_states(pod: dict[str, Any], status: str, ready: str) -> None:
    row = t.printer_for("", "pods").row(pod, NOW)
    assert (row[1], row[2]) == (ready, status)


def test_pod_terminating_gates_and_columns() -> None:
    printer = t.printer_for("", "pods")
    assert [n.upper() for n in _names(printer)] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [n.upper() for n in _names(printer, wide=True)][5:] == [
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ]
    pod = _pod(containerStatuses=[_running("a"), _running("b")])
    pod["metadata"]["deletionTimestamp"] = _ago(1)
    assert printer.row(pod, NOW)[2] == "Terminating"
    pod["status"]["reason"] = "NodeLost"
    assert printer.row(pod, NOW)[2] == "Unknown"
    gated = _pod(conditions=[{"type": "example.com/ok", "status": "True"}])
    gated["spec"]["readinessGates"] = [
        {"conditionType": "example.com/ok"},
        {"conditionType": "other"},
    ]
    assert printer.row(gated, NOW)[8] == "1/2"
    naive = printer.row(
        _pod(
            containerStatuses=[
                {
                    "name": "a",
                    "restartCount": 1,
                    "state": {"running": {}},
                    "lastState": {"terminated": {"finishedAt": _ago(30)}},
                }
            ]
        ),
        NOW.replace(tzinfo=None),
    )
    assert naive[3] == "1 (30s ago)"


@pytest.mark.parametrize(
    ("group", "resource", "obj", "columns", "cells"),
    [
        (
            "",
            "namespaces",
            {"metadata": {"name": "ns"}, "status": {"phase": "Active"}},
            ["Name", "Status", "Age"],
            ["ns", "Active", "<unknown>"],
        ),
        (
            "",
            "configmaps",
            {"metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}},
            ["Name", "Data", "Age"],
            ["c", 2, "<unknown>"],
        ),
        (
            "",
            "secrets",
            {"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "MQ=="}},
            ["Name", "Type", "Data", "Age"],
            ["s", "Opaque", 1, "<unknown>"],
        ),
        (
            "",
            "serviceaccounts",
            {"metadata": {"name": "default"}},
            ["Name", "Secrets", "Age"],
            ["default", 0, "<unknown>"],
        ),
        (
            "coordination.k8s.io",
            "leases",
            {"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1"}},
            ["Name", "Holder", "Age"],
            ["n1", "n1", "<unknown>"],
        ),
        (
            "policy",
            "poddisruptionbudgets",
            {
                "metadata": {"name": "b"},
                "spec": {"minAvailable": 1},
                "status": {"disruptionsAllowed": 2},
            },
            ["Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"],
            ["b", 1, "N/A", 2, "<unknown>"],
        ),
        (
            "policy",
            "poddisruptionbudgets",
            {"metadata": {"name": "b"}, "spec": {"maxUnavailable": "50%"}},
            ["Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"],
            ["b", "N/A", "50%", 0, "<unknown>"],
        ),
        (
            "rbac.authorization.k8s.io",
            "roles",
            {"metadata": {"name": "r", "creationTimestamp": "2026-06-01T13:00:00+02:00"}},
            ["Name", "Created At"],
            ["r", "2026-06-01T11:00:00Z"],
        ),
        (
            "rbac.authorization.k8s.io",
            "clusterroles",
            {"metadata": {"name": "r"}},
            ["Name", "Created At"],
            ["r", None],
        ),
        (
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            {"metadata": {"name": "plans.upgrade.cattle.io", "creationTimestamp": CREATED}},
            ["Name", "Created At"],
            ["plans.upgrade.cattle.io", CREATED],
        ),
        (
            "example.com",
            "widgets",
            {"metadata": {"name": "w", "creationTimestamp": CREATED}},
            ["Name", "Age"],
            ["w", "60m"],
        ),
    ],
)
def test_simple_kinds(
    group: str, resource: str, obj: dict[str, Any], columns: list[str], cells: list[Any]
) -> None:
    printer = t.printer_for(group, resource)
    assert _names(printer, wide=True) == columns
    assert printer.row(obj, NOW) == cells


def test_bindings() -> None:
    binding = {
        "metadata": {"name": "b", "creationTimestamp": CREATED},
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "alice"},
            {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "ops"},
            {"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"},
        ],
    }
    for resource in ("rolebindings", "clusterrolebindings"):
        printer = t.printer_for("rbac.authorization.k8s.io", resource)
        assert _names(printer) == ["Name", "Role", "Age"]
        assert printer.row(binding, NOW) == [
            "b",
            "ClusterRole/view",
            "60m",
            "alice, bob",
            "ops",
            "kube-system/default",
        ]


def test_events_core_and_events_api() -> None:
    printer = t.printer_for("", "events")
    assert _names(printer) == ["Last Seen", "Type", "Reason", "Object", "Message"]
    core = {
        "metadata": {"name": "p.1"},
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{a}"},
        "reason": "BackOff",
        "type": "Warning",
        "message": " Back-off restarting \n",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": _ago(600),
        "lastTimestamp": _ago(30),
        "count": 7,
    }
    assert printer.row(core, NOW) == [
        "30s",
        "Warning",
        "BackOff",
        "pod/p",
        "spec.containers{a}",
        "kubelet, n1",
        "Back-off restarting",
        "10m",
        7,
        "p.1",
    ]
    new_api = {
        "metadata": {"name": "n.2"},
        "regarding": {"kind": "Node"},
        "reason": "Rebooted",
        "type": "Normal",
        "note": "rebooted",
        "reportingController": "k3os-agent",
        "reportingInstance": "n1",
        "eventTime": _ago(5),
        "series": {"count": 3, "lastObservedTime": _ago(2)},
    }
    row = t.printer_for("events.k8s.io", "events").row(new_api, NOW)
    assert row == [
        "2s",
        "Normal",
        "Rebooted",
        "node",
        "",
        "k3os-agent, n1",
        "rebooted",
        "5s",
        3,
        "n.2",
    ]
    single = {"metadata": {"name": "x"}, "involvedObject": {}, "eventTime": _ago(3)}
    assert printer.row(single, NOW) == ["3s", "", "", "", "", "", "", "3s", 1, "x"]


def test_custom_resource_columns() -> None:
    columns = [
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
        {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Since", "type": "date", "jsonPath": ".status.since", "description": "d"},
        {"name": "Spec", "type": "string", "jsonPath": ".spec.nested", "format": "x"},
    ]
    printer = t.custom_resource_printer(columns)
    assert _names(printer, wide=True) == [
        "Name",
        "Ready",
        "Replicas",
        "Ratio",
        "Paused",
        "Age",
        "Since",
        "Spec",
    ]
    assert printer.columns[3]["priority"] == 1
    obj = {
        "metadata": {"name": "w", "creationTimestamp": CREATED},
        "spec": {"replicas": 2, "ratio": 0.5, "paused": False, "nested": {"a": [1]}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "since": "not a time"},
    }
    assert printer.row(obj, NOW) == ["w", "True", 2, 0.5, False, "60m", "<invalid>", '{"a":[1]}']
    wrong_types = {
        "metadata": {"name": "v"},
        "spec": {"replicas": "2", "ratio": True, "paused": "no"},
        "status": {"since": 5},
    }
    assert printer.row(wrong_types, NOW) == ["v", None, None, None, None, None, None, None]
    assert t.custom_resource_printer(None) is t.printer_for("x", "y")
    with pytest.raises(BadRequest, match=r"additionalPrinterColumns\[0\].jsonPath"):
        t.custom_resource_printer([{"name": "Bad", "jsonPath": "spec..x"}])


def test_build_table() -> None:
    objects = [{"metadata": {"name": "c", "creationTimestamp": CREATED}, "data": {}}]
    printer = t.printer_for("", "configmaps")
    table = t.build_table(
        objects, printer, now=NOW, list_metadata={"resourceVersion": "7", "continue": "x"}
    )
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "7", "continue": "x"}
    assert table["columnDefinitions"][0] == {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "The object's metadata.name, unique within its namespace.",
        "priority": 0,
    }
    assert table["rows"] == [
        {
            "cells": ["c", 0, "60m"],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": objects[0]["metadata"],
            },
        }
    ]
    full = t.build_table(objects, printer, now=NOW, include_object="Object")
    assert full["rows"][0]["object"] == objects[0]
    bare = t.build_table(objects, printer, now=NOW, include_object="None", no_headers=True)
    assert bare["rows"] == [{"cells": ["c", 0, "60m"]}]
    assert bare["columnDefinitions"] == []
    assert bare["metadata"] == {}
    with pytest.raises(BadRequest, match='includeObject: Unsupported value: "All"'):
        t.build_table(objects, printer, now=NOW, include_object="All")
