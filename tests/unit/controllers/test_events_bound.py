"""The recorder's memory of recent Events stays bounded without a scan on every record."""

from __future__ import annotations

from typing import Any

import pytest

from k3os.controllers import events
from k3os.controllers.events import EventRecorder


class _Kube:
    def __init__(self) -> None:
        self.creates = 0

    async def create(self, rt: Any, obj: Any, namespace: str = "") -> Any:
        self.creates += 1
        return obj

    async def patch(self, *args: Any, **kwargs: Any) -> Any:
        return {}


async def test_recent_events_are_bounded_even_when_all_are_recent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "_RECENT_LIMIT", 8)
    kube = _Kube()
    recorder = EventRecorder(kube, "test")  # type: ignore[arg-type]
    sizes = []
    for i in range(40):
        node = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": f"n{i}", "uid": f"u{i}"}}
        await recorder.record(node, "Started", f"node {i}")
        sizes.append(len(recorder._recent))
    assert max(sizes) <= 9 and kube.creates == 40
    # The newest are still remembered: a repeat is a count bump, not a new Event.
    last = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n39", "uid": "u39"}}
    await recorder.record(last, "Started", "node 39")
    assert kube.creates == 40
