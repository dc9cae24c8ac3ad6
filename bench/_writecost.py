"""Server CPU per write, for the write shapes of a fleet (the API benchmark's
`D/<shape>/1` cases).

Each shape is sent sequentially over one lean keep-alive connection (`_lean.Conn`), and
the server process's CPU time over the run (`/proc/<pid>/stat`, user + system) is divided
by the number of writes: what one write costs the server, TLS and HTTP included. The
shapes are those the fleet sends at its highest rates:

  create-configmap   a ~1 KiB ConfigMap create (the baseline every shape is read against)
  patch-node-status  a kubelet-like Node status as a strategic merge patch of `status`
                     (conditions, addresses, nodeInfo, capacity, images)
  patch-node-annotation  a merge patch of one annotation on the Node (the Plan
                     controller's and the agent's hand-over writes)
  put-lease          a Lease renewal (PUT with the resourceVersion of the last answer)
  create-event       a core/v1 Event about a Node
  patch-plan-status  a merge patch of a Plan's status (the Plan controller's write each pass
                     that reserves nodes: `applying`, `failed`, conditions), a custom
                     resource validated and pruned by its CRD's schema

`watched` repeats the Node status patch with W idle watches open, each on one other
Node's name by field selector, as each agent of a W-node fleet watches its own Node: what
the shared watch costs per write when it has W subscribers.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _lean
from _profile import profiled
from k3os.apis.crds import shipped_crds

CMS = "/api/v1/namespaces/default/configmaps"
NODES = "/api/v1/nodes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
EVENTS = "/api/v1/namespaces/default/events"
PLANS = "/apis/upgrade.cattle.io/v1/namespaces/default/plans"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
SHAPES = ("create-configmap", "patch-node-status", "patch-node-annotation", "put-lease",
          "create-event", "patch-plan-status")  # fmt: skip

Obj = dict[str, Any]


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "k3os",
                "k3os.io/mode": "local", "topology.kubernetes.io/zone": "edge-a",
            },
            "annotations": {
                "k3os.io/config-labels": "k3os.io/mode,topology.kubernetes.io/zone",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "k3os.io/node-args": '["agent","--node-label","k3os.io/mode=local"]',
            },
        },
        "spec": {"podCIDR": "10.42.7.0/24", "podCIDRs": ["10.42.7.0/24"]},
    }  # fmt: skip


def node_status(name: str, beat: int) -> Obj:
    """A kubelet-like status patch; `beat` changes the heartbeat times."""
    at = _stamp()
    since = "2026-11-26T20:00:00Z"

    def cond(kind: str, status: str, reason: str, message: str) -> Obj:
        return {"type": kind, "status": status, "lastHeartbeatTime": at,
                "lastTransitionTime": since, "reason": reason, "message": message}  # fmt: skip

    resources = {"cpu": "2", "memory": "4026532Ki", "pods": "110",
                 "ephemeral-storage": "30832548Ki", "hugepages-2Mi": "0"}  # fmt: skip
    return {
        "status": {
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
                     "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure",
                     "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID",
                     "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", f"kubelet is posting ready status {beat}"),
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.7.12"},
                          {"type": "Hostname", "address": name}],
            "capacity": resources,
            "allocatable": dict(resources, cpu="1900m"),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "8f2a6c0e4b7d4e1f9a3c5b7d9e1f3a5c", "systemUUID": "ec2c1b6e-7d1a",
                "bootID": "2b4d6f80-1a3c-4e5f-8091-a2b3c4d5e6f7",
                "kernelVersion": "6.1.0-13-amd64", "osImage": "k3OS v0.1.0",
                "containerRuntimeVersion": "containerd://1.7.7", "kubeletVersion": "v1.36.0",
                "kubeProxyVersion": "v1.36.0", "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": [
                {"names": [f"registry.example/edge/app-{i}@sha256:{i:064x}",
                           f"registry.example/edge/app-{i}:v{i}.0"],
                 "sizeBytes": 10_000_000 + i}
                for i in range(5)
            ],
        }
    }  # fmt: skip


def event(i: int) -> Obj:
    at = _stamp()
    return {
        "metadata": {"name": f"probe-node-{i % 50}.{i:08x}", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": f"probe-node-{i % 50}", "apiVersion": "v1",
                           "uid": "6a1b8c2d-0e3f-4a5b-9c7d-1e2f3a4b5c6d"},
        "reason": "UpgradeStarted", "message": "plan os-upgrade: upgrading to v0.2.0 (hash 1a2b)",
        "source": {"component": "k3os-plan-controller"}, "type": "Normal", "count": 1,
        "firstTimestamp": at, "lastTimestamp": at, "reportingComponent": "k3os-plan-controller",
    }  # fmt: skip


def plan() -> Obj:
    """A Plan as an operator writes one (no node matches its selector: the API benchmark's
    server runs no controllers, and none would act on it)."""
    return {
        "apiVersion": "upgrade.cattle.io/v1",
        "kind": "Plan",
        "metadata": {"name": "probe-plan", "namespace": "default"},
        "spec": {"concurrency": 50, "version": "v0.2.0",
                 "nodeSelector": {"matchLabels": {"bench.k3os.io/none": "true"}},
                 "upgrade": {"image": "k3os-$(LATEST_VERSION).bundle"}},
    }  # fmt: skip


def plan_status(serial: int) -> Obj:
    """The Plan controller's status write: the nodes in flight (a slot freed, another
    taken) and its conditions."""
    at = _stamp()
    applying = [f"probe-node-{(serial + k) % 500}" for k in range(50)]
    return {
        "status": {
            "latestVersion": "v0.2.0", "latestHash": f"{serial % 7:064x}",
            "applying": applying, "failed": [],
            "conditions": [
                {"type": "LatestResolved", "status": "True", "reason": "Version",
                 "lastTransitionTime": "2026-11-26T20:00:00Z", "message": ""},
                {"type": "Complete", "status": "False", "reason": "Applying",
                 "lastTransitionTime": at, "message": f"{serial} of 500 nodes upgraded"},
            ],
        }
    }  # fmt: skip


def lease(name: str) -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                 "renewTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
    }  # fmt: skip


class Probe:
    """The write shapes over one connection; `targets` objects per shape, written in turn."""

    def __init__(self, conn: _lean.Conn, targets: int) -> None:
        self.conn = conn
        self.targets = targets
        self.leases: dict[str, Obj] = {}
        self.serial = 0

    async def post(self, path: str, body: Obj) -> Obj:
        _, data = await self.conn.request("POST", path, json.dumps(body).encode())
        reply: Obj = json.loads(data)
        return reply

    async def setup(self) -> None:
        """Nodes and Leases the patches and renewals write to."""
        for i in range(self.targets):
            name = f"probe-node-{i}"
            await self.post(NODES, node(name))
            path = f"{NODES}/{name}/status?fieldManager=kubelet"
            await self.conn.request("PATCH", path, json.dumps(node_status(name, 0)).encode(),
                                    STRATEGIC)  # fmt: skip
            self.leases[name] = await self.post(LEASES, lease(name))
        crd = next(c for c in shipped_crds() if c["spec"]["names"]["plural"] == "plans")
        await self.post(CRDS, crd)
        for _ in range(100):  # served once the CRD is established (well under a second)
            try:
                await self.post(PLANS, plan())
                break
            except RuntimeError as e:
                if ": 404 " not in str(e):
                    raise  # refused for another reason than not served yet: say so
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError("the Plan CRD was not served within 5 s")

    async def one(self, shape: str, i: int) -> None:
        self.serial += 1
        name = f"probe-node-{i % self.targets}"
        if shape == "create-configmap":
            body = {"metadata": {"name": f"probe-{self.serial}"}, "data": {"v": "v" * 1000}}
            await self.post(CMS, body)
        elif shape == "patch-node-status":
            path = f"{NODES}/{name}/status?fieldManager=kubelet"
            data = json.dumps(node_status(name, self.serial)).encode()
            await self.conn.request("PATCH", path, data, STRATEGIC)
        elif shape == "patch-node-annotation":
            patch = {"metadata": {"annotations": {"upgrade.k3os.io/os-upgrade": str(self.serial)}}}
            path = f"{NODES}/{name}?fieldManager=k3os-plan-controller"
            await self.conn.request("PATCH", path, json.dumps(patch).encode(), MERGE)
        elif shape == "put-lease":
            current = self.leases[name]
            body = lease(name)
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            _, data = await self.conn.request(
                "PUT", f"{LEASES}/{name}?fieldManager=k3os-agent", json.dumps(body).encode()
            )
            self.leases[name] = json.loads(data)
        elif shape == "create-event":
            await self.post(EVENTS, event(self.serial))
        elif shape == "patch-plan-status":
            path = f"{PLANS}/probe-plan/status?fieldManager=k3os-plan-controller"
            await self.conn.request("PATCH", path, json.dumps(plan_status(self.serial)).encode(),
                                    MERGE)  # fmt: skip
        else:
            raise ValueError(shape)


async def _watchers(host: str, port: int, ctx: ssl.SSLContext, count: int) -> list[Any]:
    """`count` idle watches of Nodes, each on one name (that is never written)."""
    loop = asyncio.get_running_loop()
    out = []
    for j in range(count):
        path = f"{NODES}?watch=1&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dw-{j}"
        request = f"GET {path} HTTP/1.1\r\nHost: k3os\r\n\r\n".encode()
        stream = _lean.WatchStream(request, 1 << 30)
        await loop.create_connection(lambda s=stream: s, host, port, ssl=ctx)
        out.append(stream)
    await asyncio.gather(*(s.headed for s in out))
    return out


async def _timed(pid: int, ops: int, one: Callable[[int], Awaitable[None]]) -> float:
    for i in range(min(20, ops)):  # warm up: first-use caches, connection state
        await one(i)
    cpu = cpu_of(pid)
    for i in range(ops):
        await one(i)
    return (cpu_of(pid) - cpu) * 1000 / ops


def measure(
    url: str, tls_dir: Path, pid: int, ops: int, watchers: int, profile: Path | None = None
) -> dict[str, tuple[float, dict[str, float]]]:
    """Server CPU ms per write of each shape (and of the status patch with `watchers`)."""
    host, _, port_text = url.removeprefix("https://").rpartition(":")
    port = int(port_text)

    async def main() -> dict[str, tuple[float, dict[str, float]]]:
        ctx = _lean.tls_context(tls_dir)
        conn = await _lean.Conn.open(host, port, ctx)
        probe = Probe(conn, 50)
        await probe.setup()
        out: dict[str, tuple[float, dict[str, float]]] = {}
        for shape in SHAPES:
            raw = profile / f"{shape}.raw" if profile else None
            with profiled(pid, raw, rate=200):
                ms = await _timed(pid, ops, lambda i, s=shape: probe.one(s, i))
            out[f"{shape}/1"] = (ms, {"ops": ops})
        if watchers:
            streams = await _watchers(host, port, ctx, watchers)
            await asyncio.sleep(1.0)
            raw = profile / "patch-node-status-watched.raw" if profile else None
            with profiled(pid, raw, rate=200):
                ms = await _timed(pid, ops, lambda i: probe.one("patch-node-status", i))
            out[f"patch-node-status/1-watched-{watchers}"] = (
                ms, {"ops": ops, "watchers": watchers})  # fmt: skip
            for s in streams:
                s.done.set_result(None)  # ended here, not by the server
                if s.transport is not None:
                    s.transport.close()
        conn.close()
        return out

    return asyncio.run(main())
