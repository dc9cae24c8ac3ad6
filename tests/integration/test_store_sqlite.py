"""The store contract on a real SQLite file, plus what only the SQLite driver promises."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from k3os.store import Store, StoreOptions, open_store
from tests.unit.store.conformance import MakeStore, StoreConformance

pytestmark = pytest.mark.integration


@pytest.fixture
async def make_store(tmp_path: Path) -> AsyncIterator[MakeStore]:
    opened: list[Store] = []

    async def make(options: StoreOptions | None = None) -> Store:
        store = await open_store(f"sqlite://{tmp_path}/db{len(opened)}/state.db", options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


class TestSqliteConformance(StoreConformance):
    pass
