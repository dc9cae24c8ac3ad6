"""Giving start-up's heap back: trimmed on glibc, only collected elsewhere, and done once
the agent has settled."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from k3os.agent import memory, runner
from k3os.agent.runner import Agent
from tests.unit.agent.fakes import ListWatchKube
from tests.unit.agent.test_runner import run_until, settings


@pytest.fixture
def fresh_libc() -> Iterator[None]:
    memory._libc.cache_clear()
    yield
    memory._libc.cache_clear()


@pytest.mark.usefixtures("fresh_libc")
def test_release_trims_on_glibc_only(monkeypatch: pytest.MonkeyPatch) -> None:
    glibc = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    assert memory.release() is glibc
    memory._libc.cache_clear()

    def not_glibc(name: str) -> str:
        raise ValueError(name)

    monkeypatch.setattr(os, "confstr", not_glibc)
    assert memory.release() is False


async def test_the_agent_releases_once_settled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    released: list[bool] = []
    monkeypatch.setattr(runner, "SETTLED_AFTER", 0.0)
    monkeypatch.setattr(runner, "release", lambda: released.append(True) or True)
    agent = Agent(settings(tmp_path, None), ListWatchKube())  # type: ignore[arg-type]
    assert await run_until(agent, lambda: bool(released)) == 0
    assert released == [True]
