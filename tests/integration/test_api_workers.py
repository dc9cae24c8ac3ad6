"""`k3os server --api-workers N`: worker processes serving the API on the server's port.

Real processes and real TLS: connections land in the workers and none in the main process
(counted from /proc), writes through any of them are seen in order by watches on all of
them, a revision written through one is good for reads and watches through another, a
SIGKILLed worker is replaced with nothing acknowledged lost, and the workers stop when the
main process dies. With etcd each worker is a client of etcd itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from k3os.client import ApiStatusError, ClientError, Kube, connect_kubeconfig
from k3os.client.resources import CONFIG_MAPS, EVENTS
from tests.integration._apiserver import RunningServer, kubectl_env, running_server
from tests.integration._controlplane import eventually, gone
from tests.unit.store.etcd_server import run_etcd

pytestmark = pytest.mark.integration


def worker_pids(server: RunningServer) -> list[int]:
    return server.api_workers()


def tcp_sockets() -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every TCP socket on the machine."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
            found.append((local, remote, fields[3], fields[9]))
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        pass
    return inodes


def connections_by_process(server: RunningServer, pids: list[int]) -> dict[int, int]:
    """Established TCP connections on the server's port, by the process holding them."""
    ours = {i for local, _, state, i in tcp_sockets() if state == "01" and local == server.port}
    return {pid: len(socket_inodes(pid) & ours) for pid in pids}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path / "data", ["--api-workers", "2"]) as s:
        yield s


async def _workers_serving(server: RunningServer, count: int) -> list[int]:
    """Wait until `count` workers run and each has taken a connection."""
    clients: list[Kube] = []
    try:

        async def probe() -> list[int] | None:
            pids = worker_pids(server)
            client = connect_kubeconfig(server.kubeconfig)
            clients.append(client)
            await client.list(CONFIG_MAPS, "default")  # a connection of its own
            held = connections_by_process(server, pids)
            busy = [pid for pid, n in held.items() if n]
            return pids if len(pids) == count and len(busy) == count else None

        return await eventually(probe, within=60, what=f"{count} API workers serving")
    finally:
        for client in clients:
            await client.aclose()


async def test_connections_spread_over_processes_and_watches_see_every_write(
    server: RunningServer, kubectl: Path
) -> None:
    await _workers_serving(server, 2)
    watcher = connect_kubeconfig(server.kubeconfig)
    writers = [connect_kubeconfig(server.kubeconfig) for _ in range(12)]
    try:
        listed = await watcher.list(CONFIG_MAPS, "default")
        seen: list[tuple[str, int]] = []

        async def watch() -> None:
            async for event in watcher.watch(
                CONFIG_MAPS, "default", resource_version=listed.resource_version,
                timeout_seconds=60,
            ):  # fmt: skip
                meta = event.object["metadata"]
                seen.append((meta["name"], int(meta["resourceVersion"])))

        task = asyncio.create_task(watch())
        written = []
        for i in range(36):  # one write per client in turn: every process writes some
            made = await writers[i % len(writers)].create(
                CONFIG_MAPS, {"metadata": {"name": f"cm-{i:02d}"}, "data": {"i": str(i)}},
                "default",
            )  # fmt: skip
            written.append((made["metadata"]["name"], int(made["metadata"]["resourceVersion"])))
        held = connections_by_process(server, [server.proc.pid, *worker_pids(server)])
        await eventually(lambda: _done(seen, 36), within=30, what="the watch to see every write")
        task.cancel()
        assert seen == written  # all of them, in the order they were acknowledged
        # The workers hold every connection; the main process serves none of them.
        assert held[server.proc.pid] == 0, held
        assert sum(held.values()) >= len(writers) + 1, held
        out = await asyncio.to_thread(
            subprocess.check_output,
            [str(kubectl), "get", "configmaps", "-o", "name"],
            env=kubectl_env(server), text=True, timeout=60,
        )  # fmt: skip
        assert {f"configmap/cm-{i:02d}" for i in range(36)} <= set(out.split())
    finally:
        await watcher.aclose()
        for w in writers:
            await w.aclose()


async def _done(seen: list[tuple[str, int]], count: int) -> bool:
    return len(seen) >= count


async def test_a_revision_written_through_one_process_is_good_in_every_other(
    server: RunningServer,
) -> None:
    await _workers_serving(server, 2)
    for i in range(30):  # fresh connections each time: they land on any of the processes
        async with (
            connect_kubeconfig(server.kubeconfig) as writer,
            connect_kubeconfig(server.kubeconfig) as reader,
        ):
            made = await writer.create(CONFIG_MAPS, {"metadata": {"name": f"ryw-{i}"}}, "default")
            rv = made["metadata"]["resourceVersion"]
            # Exact and not-older-than reads at that revision: never "too large".
            page = await reader.request(
                "GET",
                "/api/v1/namespaces/default/configmaps"
                f"?resourceVersion={rv}&resourceVersionMatch=NotOlderThan",
            )
            assert f"ryw-{i}" in {o["metadata"]["name"] for o in page["items"]}
            got = await reader.request(
                "GET", f"/api/v1/namespaces/default/configmaps/ryw-{i}?resourceVersion={rv}"
            )
            assert got["metadata"]["resourceVersion"] == rv
            # A watch from that revision sees the next write to the object at once.
            events = reader.watch(CONFIG_MAPS, "default", resource_version=rv, timeout_seconds=20)
            await writer.patch(
                CONFIG_MAPS, f"ryw-{i}", {"data": {"n": str(i)}}, namespace="default"
            )
            first = await asyncio.wait_for(anext(aiter(events)), 20)
            assert first.type == "MODIFIED"
            assert first.object["data"] == {"n": str(i)}
            await events.aclose()


async def test_patches_of_one_object_through_every_process_lose_nothing(
    server: RunningServer,
) -> None:
    """Each worker starts a write from the object as it last knew it (no read); the other
    worker's writes make that stale all the time here, and the compare-and-swap must send
    every such write to a real read: every client's keys end up in the object."""
    await _workers_serving(server, 2)
    clients = [connect_kubeconfig(server.kubeconfig) for _ in range(16)]
    try:
        await clients[0].create(CONFIG_MAPS, {"metadata": {"name": "shared"}}, "default")

        async def patcher(n: int, client: Kube) -> None:
            for round_ in range(5):
                await client.patch(
                    CONFIG_MAPS, "shared", {"data": {f"c{n:02d}-{round_}": "x"}},
                    namespace="default",
                )  # fmt: skip

        await asyncio.gather(*(patcher(n, c) for n, c in enumerate(clients)))
        final = await clients[-1].get(CONFIG_MAPS, "shared", "default")
        assert set(final["data"]) == {f"c{n:02d}-{r}" for n in range(16) for r in range(5)}
    finally:
        for client in clients:
            await client.aclose()


async def test_a_killed_worker_is_replaced_and_no_acknowledged_write_is_lost(
    server: RunningServer,
) -> None:
    pids = await _workers_serving(server, 2)
    acknowledged: list[str] = []
    failures = 0
    stop = asyncio.Event()

    async def write() -> None:
        nonlocal failures
        i = 0
        while not stop.is_set():
            async with connect_kubeconfig(server.kubeconfig, timeout=5) as client:
                name = f"ack-{i:04d}"
                i += 1
                try:
                    await client.create(CONFIG_MAPS, {"metadata": {"name": name}}, "default")
                except (ClientError, ApiStatusError):
                    failures += 1  # in flight on the killed worker: not acknowledged
                    continue
                acknowledged.append(name)

    writer = asyncio.create_task(write())
    await eventually(lambda: _done_list(acknowledged, 20), within=30, what="writes before")
    os.kill(pids[0], signal.SIGKILL)
    replaced = await eventually(
        lambda: _replacement(server, pids), within=30, what="a new API worker"
    )
    count = len(acknowledged)
    await eventually(lambda: _done_list(acknowledged, count + 20), within=30, what="writes after")
    stop.set()
    await writer
    assert replaced not in pids
    async with connect_kubeconfig(server.kubeconfig) as client:
        names = {o["metadata"]["name"] for o in (await client.list(CONFIG_MAPS, "default")).items}
    assert set(acknowledged) <= names
    log = server.log.read_text()
    assert f"API worker 0 (pid {pids[0]}) exited with signal SIGKILL" in log or (
        f"(pid {pids[0]}) exited with signal SIGKILL" in log
    )


async def _done_list(items: list[str], count: int) -> bool:
    return len(items) >= count


async def _replacement(server: RunningServer, old: list[int]) -> int | None:
    new = [pid for pid in worker_pids(server) if pid not in old]
    return new[0] if new else None


def test_workers_stop_when_the_main_process_dies(server: RunningServer) -> None:
    asyncio.run(_workers_serving(server, 2))
    pids = worker_pids(server)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids), "a worker outlived the main process"


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_workers_on_etcd_are_clients_of_etcd(tmp_path: Path) -> None:
    with (
        run_etcd(tmp_path) as etcd,
        running_server(
            tmp_path / "data", ["--datastore-endpoint", etcd.url, "--api-workers", "1"]
        ) as server,
    ):
        await _workers_serving(server, 1)
        async with connect_kubeconfig(server.kubeconfig) as watcher:
            listed = await watcher.list(CONFIG_MAPS, "default")
            events = watcher.watch(
                CONFIG_MAPS, "default", resource_version=listed.resource_version,
                timeout_seconds=30,
            )  # fmt: skip
            for i in range(10):
                async with connect_kubeconfig(server.kubeconfig) as writer:
                    await writer.create(CONFIG_MAPS, {"metadata": {"name": f"e-{i}"}}, "default")
            names = []
            it = aiter(events)
            while len(names) < 10:
                names.append((await asyncio.wait_for(anext(it), 20)).object["metadata"]["name"])
            await events.aclose()
        assert names == [f"e-{i}" for i in range(10)]
        # The worker holds a connection of its own to etcd's client port.
        etcd_port = int(etcd.url.rsplit(":", 1)[1])
        to_etcd = {i for _, remote, state, i in tcp_sockets() if remote == etcd_port}
        assert socket_inodes(worker_pids(server)[0]) & to_etcd


def test_metrics_of_the_main_process_controllers_are_served_by_a_worker(tmp_path: Path) -> None:
    """Only the main process runs controllers; a worker answers /metrics with theirs."""
    with running_server(tmp_path / "data", ["--api-workers", "1"], controllers=True) as server:
        asyncio.run(_workers_serving(server, 1))
        status, body = server.get("/metrics")
        assert status == 200
        assert b"k3os_plan" in body or b"workqueue" in body, body[:500]
        status, _ = server.get("/metrics", client_cert=False)
        assert status in (401, 403)


@pytest.mark.parametrize("datastore", ["sqlite", "etcd"])
async def test_events_written_through_a_worker_expire_at_the_servers_event_ttl(
    tmp_path: Path, datastore: str
) -> None:
    """`--event-ttl` reaches the workers; the store deletes an Event that long after its
    last write, with no controller running (the server here runs none)."""
    with contextlib.ExitStack() as stack:
        extra = ["--api-workers", "1", "--event-ttl", "2s"]
        if datastore == "etcd":
            extra += ["--datastore-endpoint", stack.enter_context(run_etcd(tmp_path)).url]
        server = stack.enter_context(running_server(tmp_path / "data", extra))
        await _workers_serving(server, 1)
        async with connect_kubeconfig(server.kubeconfig) as kube:
            event = {
                "metadata": {"name": "short-lived"},
                "involvedObject": {"kind": "Node", "name": "n1"},
                "reason": "Tested",
                "message": "expires in two seconds",
                "type": "Normal",
            }
            await kube.create(EVENTS, event, "default")
            await kube.create(CONFIG_MAPS, {"metadata": {"name": "stays"}}, "default")
            written = time.monotonic()
            await eventually(
                lambda: gone(kube, EVENTS, "short-lived", "default"),
                within=30,
                what="the event to expire",
            )
            assert time.monotonic() - written >= 1.5  # not before its TTL (etcd rounds up)
            assert (await kube.get(CONFIG_MAPS, "stays", "default"))["metadata"]["name"]
