"""Leader election between two `k3os controller-manager` processes on a real server: one
holds the Lease, the other takes over once the first is SIGKILLed, and a SIGTERM releases
the Lease at once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from k3os.client import connect_kubeconfig
from k3os.client.resources import LEASES
from tests.integration._apiserver import RunningServer, free_port
from tests.integration._controlplane import eventually, start_server

pytestmark = pytest.mark.integration

LEADER = re.compile(r"(\S+): became leader of k3os-controller-manager")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("leader") / "data"
    data.mkdir()
    srv = start_server(data, free_port(), ["--disable-controller-manager"])
    yield srv
    srv.stop()


def start_manager(server: RunningServer, log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "k3os", "--log-level", "info", "controller-manager",
        "--kubeconfig", str(server.kubeconfig),
        "--leader-elect-lease-duration", "4s", "--leader-elect-renew-deadline", "3s",
        "--leader-elect-retry-period", "500ms",
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))


def leaders(log: Path) -> list[str]:
    return LEADER.findall(log.read_text()) if log.exists() else []


async def test_one_leads_and_the_other_takes_over(server: RunningServer, tmp_path: Path) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start_manager(server, log) for log in logs]
    try:
        async with connect_kubeconfig(server.kubeconfig) as kube:

            async def holder() -> str | None:
                try:
                    lease = await kube.get(LEASES, "k3os-controller-manager", "kube-system")
                except Exception:
                    return None
                return (lease.get("spec") or {}).get("holderIdentity") or None

            first = await eventually(holder, what="a leader")
            await eventually(
                lambda: _true(any(first in leaders(log) for log in logs)), what="its log line"
            )
            await asyncio.sleep(1.5)  # a few renewals: the other candidate must keep out
            assert await holder() == first
            lead = next(i for i, log in enumerate(logs) if first in leaders(log))
            other = 1 - lead
            assert leaders(logs[other]) == []
            # the leader runs the controllers: kube-root-ca.crt appears in default
            await eventually(lambda: _exists(kube, "default"), what="the root CA configmap")

            procs[lead].send_signal(signal.SIGKILL)
            procs[lead].wait()
            second = await eventually(
                lambda: _other(holder, first), within=30, what="the other to take over"
            )
            # the Lease may change a moment before the new leader's log line is written
            await eventually(
                lambda: _true(leaders(logs[other]) == [second]), what="the new leader's log line"
            )
            lease = await kube.get(LEASES, "k3os-controller-manager", "kube-system")
            assert lease["spec"]["leaseTransitions"] >= 1

            procs[other].send_signal(signal.SIGTERM)
            assert procs[other].wait(timeout=20) == 0
            assert await holder() is None  # released on the way out
            assert "released the lease" in logs[other].read_text()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


async def _true(value: bool) -> bool:
    return value


async def _exists(kube: object, namespace: str) -> bool:
    from k3os.client import Kube, NotFoundError
    from k3os.client.resources import CONFIG_MAPS

    assert isinstance(kube, Kube)
    try:
        await kube.get(CONFIG_MAPS, "kube-root-ca.crt", namespace)
    except NotFoundError:
        return False
    return True


async def _other(holder: object, first: str) -> str | None:
    current = await holder()  # type: ignore[operator]
    return current if current and current != first else None


def test_bad_options_are_refused(server: RunningServer) -> None:
    cmd = [
        sys.executable, "-m", "k3os", "controller-manager", "--kubeconfig", str(server.kubeconfig),
        "--leader-elect-lease-duration", "2s", "--leader-elect-renew-deadline", "3s",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "retry_period < renew_deadline < lease_duration" in done.stderr
    cmd[-4:] = ["--node-monitor-grace-period", "soon"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--node-monitor-grace-period" in done.stderr
    # Events expire in the server's store (`k3os server --event-ttl`), not by a controller.
    cmd[-2:] = ["--event-ttl", "1h"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--event-ttl" in done.stderr


async def test_a_stopping_server_releases_the_lease_of_its_controllers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    srv = start_server(data, port, ["--leader-elect-retry-period", "500ms"])
    try:
        async with connect_kubeconfig(srv.kubeconfig) as kube:

            async def held() -> str | None:
                try:
                    lease = await kube.get(LEASES, "k3os-controller-manager", "kube-system")
                except Exception:
                    return None
                return (lease.get("spec") or {}).get("holderIdentity") or None

            await eventually(held, what="the in-server manager to lead")
    finally:
        assert srv.stop() == 0
    assert "released the lease" in srv.log.read_text()
    again = start_server(data, port, ["--disable-controller-manager"])
    try:
        async with connect_kubeconfig(again.kubeconfig) as kube:
            lease = await kube.get(LEASES, "k3os-controller-manager", "kube-system")
            assert lease["spec"].get("holderIdentity") is None
    finally:
        again.stop()
