"""The store contract on `memory://`, plus what only the in-process drivers promise."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from k3os.store import Store, StoreOptions, open_store
from tests.unit.store.conformance import MakeStore, StoreConformance


@pytest.fixture
async def make_store() -> AsyncIterator[MakeStore]:
    opened: list[Store] = []

    async def make(options: StoreOptions | None = None) -> Store:
        store = await open_store("memory://", options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


class TestMemoryConformance(StoreConformance):
    pass
