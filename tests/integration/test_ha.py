"""Two `k3os server` processes sharing one real etcd: one CA and token between them, writes
through either seen by watches on both, RBAC of one seen by the other, and a SIGKILLed server
loses nothing acknowledged while the other serves on and takes over the controllers."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from k3os.client import ApiStatusError, Kube, connect, connect_kubeconfig
from k3os.client.resources import CONFIG_MAPS, LEASES, ResourceType
from k3os.security.pki import issue, load_pair, save_pair
from tests.integration._apiserver import RunningServer, free_port
from tests.integration._controlplane import eventually, start_server
from tests.unit.store.etcd_server import EtcdServer, run_etcd

pytestmark = pytest.mark.integration

log = logging.getLogger(__name__)

LEASE_SECONDS = 3.0
LEASE = [
    "--leader-elect-lease-duration", f"{LEASE_SECONDS:g}s",
    "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms",
]  # fmt: skip
TOKEN = "ha-test-cluster-secret"
LEADER = re.compile(r"(\S+): became leader of k3os-controller-manager")
ROLES = ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True)
CRDS = ResourceType(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False
)
THINGS = ResourceType("ha.k3os.io", "v1", "things", "Thing", True)
BINDINGS = ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True)


@dataclass
class Cluster:
    etcd: EtcdServer
    a: RunningServer
    b: RunningServer


def _server(root: Path, name: str, etcd: EtcdServer, token: str | None) -> RunningServer:
    data = root / name
    data.mkdir()
    extra = ["--datastore-endpoint", etcd.url, "--disable-agent", *LEASE]
    if token:
        extra += ["--token", token]
    return start_server(data, free_port(), extra)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("ha")
    with run_etcd(root) as etcd:
        a = _server(root, "a", etcd, None)  # the first makes the token; the second is given it
        try:
            token = (a.data_dir / "server" / "node-token").read_text().strip()
            b = _server(root, "b", etcd, token)
            try:
                yield Cluster(etcd, a, b)
            finally:
                b.stop()
        finally:
            a.stop()


def test_one_ca_and_token(cluster: Cluster) -> None:
    tls_a, tls_b = cluster.a.tls, cluster.b.tls
    for name in ("ca.crt", "ca.key", "service-account.key"):
        assert (tls_a / name).read_bytes() == (tls_b / name).read_bytes(), name
    assert (tls_a / "serving.crt").read_bytes() != (tls_b / "serving.crt").read_bytes()
    token = (cluster.a.data_dir / "server" / "node-token").read_text()
    assert token == (cluster.b.data_dir / "server" / "node-token").read_text()
    # one server's admin credentials work on the other
    status, _ = cluster.b.get("/api/v1/namespaces")
    assert status == 200


def test_a_server_with_another_token_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "k3os", "server", "--data-dir", str(tmp_path / "c"),
        "--https-listen-port", str(free_port()), "--datastore-endpoint", cluster.etcd.url,
        "--token", "some-other-cluster-secret", "--disable-agent",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "sealed with another token" in done.stderr
    assert not (tmp_path / "c" / "server" / "tls" / "ca.crt").exists()


async def _watch_sees(watcher: Kube, writer: Kube, name: str) -> None:
    listed = await watcher.list(CONFIG_MAPS, "default")
    seen: asyncio.Queue[str] = asyncio.Queue()

    async def watch() -> None:
        async for event in watcher.watch(
            CONFIG_MAPS, "default", resource_version=listed.resource_version, timeout_seconds=30
        ):
            if event.type == "ADDED":
                await seen.put(event.object["metadata"]["name"])

    task = asyncio.create_task(watch())
    try:
        await writer.create(CONFIG_MAPS, {"metadata": {"name": name, "namespace": "default"}})
        while (got := await asyncio.wait_for(seen.get(), 20)) != name:
            log.info("watch saw %s", got)
    finally:
        task.cancel()


async def test_writes_through_either_are_seen_by_watches_on_both(cluster: Cluster) -> None:
    async with (
        connect_kubeconfig(cluster.a.kubeconfig) as a,
        connect_kubeconfig(cluster.b.kubeconfig) as b,
    ):
        await _watch_sees(b, a, "written-via-a")
        await _watch_sees(a, b, "written-via-b")


async def test_a_crd_made_through_one_is_served_by_the_other(cluster: Cluster) -> None:
    crd = {
        "metadata": {"name": "things.ha.k3os.io"},
        "spec": {
            "group": "ha.k3os.io",
            "scope": "Namespaced",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    async with (
        connect_kubeconfig(cluster.a.kubeconfig) as a,
        connect_kubeconfig(cluster.b.kubeconfig) as b,
    ):
        await a.create(CRDS, crd)

        async def served_by_b() -> bool:
            try:
                await b.create(THINGS, {"metadata": {"name": "t1", "namespace": "default"}})
            except ApiStatusError:
                return False
            return True

        await eventually(served_by_b, within=20, what="server B to serve the CRD")
        assert (await a.get(THINGS, "t1", "default"))["metadata"]["name"] == "t1"


def _alice(server: RunningServer, tmp_path: Path) -> Kube:
    ca = load_pair(server.tls / "ca.crt", server.tls / "ca.key")
    cert, key = issue(ca, "alice", client=True)
    assert key is not None
    pair = save_pair(cert, key, tmp_path / "alice.crt", tmp_path / "alice.key")
    return connect(server.url, ca=server.tls / "ca.crt", cert=pair.cert_path, key=pair.key_path)


async def test_rbac_on_one_server_sees_roles_made_through_the_other(
    cluster: Cluster, tmp_path: Path
) -> None:
    async with _alice(cluster.b, tmp_path) as alice, connect_kubeconfig(cluster.a.kubeconfig) as a:
        with pytest.raises(ApiStatusError) as denied:
            await alice.list(CONFIG_MAPS, "default")
        assert denied.value.code == 403
        role = {
            "metadata": {"name": "cm-reader", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        }
        group = "rbac.authorization.k8s.io"
        binding = {
            "metadata": {"name": "alice-reads", "namespace": "default"},
            "roleRef": {"apiGroup": group, "kind": "Role", "name": "cm-reader"},
            "subjects": [{"apiGroup": group, "kind": "User", "name": "alice"}],
        }
        await a.create(ROLES, role)
        await a.create(BINDINGS, binding)

        async def allowed() -> bool:
            try:
                await alice.list(CONFIG_MAPS, "default")
            except ApiStatusError:
                return False
            return True

        await eventually(allowed, within=20, what="server B to allow alice")


def _leaders(server: RunningServer) -> list[str]:
    return LEADER.findall(server.log.read_text())


async def _holder(kube: Kube) -> str | None:
    try:
        lease = await kube.get(LEASES, "k3os-controller-manager", "kube-system")
    except ApiStatusError:
        return None
    return (lease.get("spec") or {}).get("holderIdentity") or None


async def test_sigkill_one_server_loses_nothing_and_the_other_takes_over(
    cluster: Cluster,
) -> None:
    servers = {"a": cluster.a, "b": cluster.b}
    async with (
        connect_kubeconfig(cluster.a.kubeconfig) as a,
        connect_kubeconfig(cluster.b.kubeconfig) as b,
    ):
        clients = {"a": a, "b": b}
        first = await eventually(lambda: _holder(a), what="a controller leader")
        leader = await eventually(
            lambda: _found(next((n for n, s in servers.items() if first in _leaders(s)), None)),
            what="the leader's log line",
        )
        survivor = "b" if leader == "a" else "a"
        assert first not in _leaders(servers[survivor])

        written = []
        for i in range(40):
            via = clients["a" if i % 2 else "b"]
            name = f"acked-{i}"
            await via.create(CONFIG_MAPS, {"metadata": {"name": name, "namespace": "default"}})
            written.append(name)

        servers[leader].proc.send_signal(signal.SIGKILL)
        servers[leader].proc.wait()
        killed_at = time.monotonic()

        kube = clients[survivor]
        names = {cm["metadata"]["name"] for cm in (await kube.list(CONFIG_MAPS, "default")).items}
        assert set(written) <= names
        await kube.create(CONFIG_MAPS, {"metadata": {"name": "after-kill", "namespace": "default"}})

        async def taken_over() -> str | None:
            holder = await _holder(kube)
            return holder if holder and holder != first else None

        # a generous bound (the machine is shared); the figure itself is logged
        second = await eventually(taken_over, within=3 * LEASE_SECONDS + 10, what="a takeover")
        took = time.monotonic() - killed_at
        log.info("controllers moved to %s %.1f s after the SIGKILL", survivor, took)
        await eventually(
            lambda: _found(second in _leaders(servers[survivor]) or None),
            what="the survivor's log line",
        )


async def _found(value: object) -> object:
    return value
