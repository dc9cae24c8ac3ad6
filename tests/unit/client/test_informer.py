"""Informer semantics on a scripted API: list then watch from the list's version, resume
from the last version after a dropped connection, relist on 410 and tell handlers only what
changed, bookmarks move the version, duplicates are dropped."""

from __future__ import annotations

import asyncio
from typing import Any

from k3os.client import (
    ApiStatusError,
    Backoff,
    FakeClock,
    GoneError,
    Informer,
    InformerSet,
    ObjectList,
    TransportError,
    WatchEvent,
)
from k3os.client.clock import settle
from k3os.client.resources import CONFIG_MAPS, NAMESPACES
from tests.unit.client.fakes import ScriptedKube, cm


def recorder(informer: Informer) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []

    def handler(change: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        seen.append((change, obj["metadata"]["name"], obj["metadata"]["resourceVersion"]))

    informer.add_handler(handler)
    return seen


async def run_until_exhausted(informer: Informer, kube: ScriptedKube, clock: FakeClock) -> None:
    task = asyncio.create_task(informer.run())
    while not kube.exhausted.is_set():
        await clock.advance(1)
        await settle()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_list_watch_resume_and_relist() -> None:
    kube = ScriptedKube(
        lists=[
            ObjectList([cm("a", "5"), cm("b", "6")], "10"),
            # after the 410: a changed, b gone, d new, c unchanged
            ObjectList([cm("a", "20"), cm("c", "11"), cm("d", "21")], "22"),
        ],
        watches=[
            [
                WatchEvent("ADDED", cm("c", "11")),
                WatchEvent("ADDED", cm("c", "11")),  # a repeat: dropped
                TransportError("connection reset"),
            ],
            [TransportError("connection refused")],
            [WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "15"}})],
            [WatchEvent("MODIFIED", cm("c", "16"))],
            [GoneError(410, "Expired", "too old", {})],
            [WatchEvent("DELETED", cm("d", "23")), WatchEvent("DELETED", cm("zz", "24"))],
        ],
    )
    clock = FakeClock()
    informer = Informer(
        kube, CONFIG_MAPS, namespace="default", clock=clock, backoff=Backoff(initial=0.5)
    )
    seen = recorder(informer)
    await run_until_exhausted(informer, kube, clock)
    assert seen == [
        ("ADDED", "a", "5"),
        ("ADDED", "b", "6"),
        ("ADDED", "c", "11"),
        ("MODIFIED", "c", "16"),
        ("DELETED", "b", "6"),
        ("MODIFIED", "a", "20"),
        ("MODIFIED", "c", "11"),
        ("ADDED", "d", "21"),
        ("DELETED", "d", "23"),
    ]
    # each watch starts where the last one stopped; the relist's version after the 410
    assert kube.watch_calls == ["10", "11", "11", "15", "16", "22", "24"]
    assert informer.lists == 2
    assert informer.synced.is_set()
    assert sorted(informer.cache.list_keys()) == [("default", "a"), ("default", "c")]
    assert informer.name == "informer:configmaps/default"


async def test_a_failing_handler_does_not_stop_the_others() -> None:
    kube = ScriptedKube([ObjectList([cm("a", "1")], "1")], [])
    clock = FakeClock()
    informer = Informer(kube, CONFIG_MAPS, clock=clock)

    def broken(*_: Any) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(broken)
    seen = recorder(informer)
    await run_until_exhausted(informer, kube, clock)
    assert seen == [("ADDED", "a", "1")]


async def test_a_stopped_informer_resumes_from_its_version() -> None:
    kube = ScriptedKube([ObjectList([cm("a", "1")], "3")], [[]])
    clock = FakeClock()
    informer = Informer(kube, CONFIG_MAPS, clock=clock)
    await run_until_exhausted(informer, kube, clock)
    kube.exhausted.clear()
    kube.watches = [[WatchEvent("MODIFIED", cm("a", "4"))]]
    await run_until_exhausted(informer, kube, clock)
    assert informer.lists == 1
    assert kube.watch_calls == ["3", "3", "3", "4"]


def _initial_end(rv: str) -> WatchEvent:
    meta = {"resourceVersion": rv, "annotations": {"k8s.io/initial-events-end": "true"}}
    return WatchEvent("BOOKMARK", {"metadata": meta})


async def test_a_streamed_list_is_one_watch_and_starts_over_when_cut_short() -> None:
    kube = ScriptedKube(
        lists=[],  # never listed
        watches=[
            # cut before its initial events ended: streamed again, from the start
            [WatchEvent("ADDED", cm("a", "5")), WatchEvent("ADDED", cm("b", "6")),
             TransportError("connection reset")],
            # the list ends at 10, the watch goes on; dropped: resumes from its version
            [WatchEvent("ADDED", cm("a", "5")), WatchEvent("ADDED", cm("b", "6")),
             _initial_end("10"), WatchEvent("MODIFIED", cm("a", "12")),
             TransportError("connection reset")],
            [GoneError(410, "Expired", "too old", {})],
            # after the 410: b is gone, a changed
            [WatchEvent("ADDED", cm("a", "20")), _initial_end("22")],
        ],
    )  # fmt: skip
    clock = FakeClock()
    informer = Informer(kube, CONFIG_MAPS, namespace="default", clock=clock, stream_list=True)
    seen = recorder(informer)
    await run_until_exhausted(informer, kube, clock)
    assert seen == [
        ("ADDED", "a", "5"),
        ("ADDED", "b", "6"),
        ("MODIFIED", "a", "12"),
        ("MODIFIED", "a", "20"),
        ("DELETED", "b", "6"),
    ]
    assert kube.watch_calls == ["", "", "12", "", "22"]
    assert kube.streamed == [True, True, False, True, False]
    assert informer.lists == 2 and informer.synced.is_set()
    assert informer.resource_version == "22"


async def test_a_server_that_refuses_streamed_lists_gets_lists() -> None:
    refused = ApiStatusError(400, "BadRequest", "sendInitialEvents is not supported", {})
    kube = ScriptedKube([ObjectList([cm("a", "1")], "3")], [[refused], []])
    clock = FakeClock()
    informer = Informer(kube, CONFIG_MAPS, clock=clock, stream_list=True)
    seen = recorder(informer)
    await run_until_exhausted(informer, kube, clock)
    assert seen == [("ADDED", "a", "1")]
    assert kube.streamed == [True, False, False]
    assert kube.watch_calls == ["", "3", "3"]
    assert not informer.stream_list and informer.lists == 1


def test_informer_set_shares_one_informer_per_selection() -> None:
    kube = ScriptedKube([], [])
    informers = InformerSet(kube)  # type: ignore[arg-type]
    a = informers.get(NAMESPACES)
    assert informers.get(NAMESPACES) is a
    b = informers.get(CONFIG_MAPS, field_selector="metadata.name=x")
    c = informers.get(CONFIG_MAPS, "ns")
    assert len({id(a), id(b), id(c)}) == 3
    coros = informers.coroutines()
    assert sorted(coros) == [
        "informer:configmaps#1",
        "informer:configmaps/ns",
        "informer:namespaces",
    ]
    for coro in coros.values():
        coro.close()


async def test_informer_set_waits_for_every_informer() -> None:
    informers = InformerSet(ScriptedKube([], []))  # type: ignore[arg-type]
    a, b = informers.get(NAMESPACES), informers.get(CONFIG_MAPS)
    waiter = asyncio.create_task(informers.wait_synced())
    a.synced.set()
    await settle()
    assert not waiter.done()
    b.synced.set()
    await waiter
