"""The store contract on a real etcd server started by the fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from k3os.store import Store, StoreOptions, open_store
from tests.unit.store.conformance import MakeStore, StoreConformance
from tests.unit.store.etcd_server import EtcdServer, run_etcd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    with run_etcd(tmp_path_factory.mktemp("etcd")) as server:
        yield server


@pytest.fixture
async def make_store(etcd: EtcdServer) -> AsyncIterator[MakeStore]:
    opened: list[Store] = []

    async def make(options: StoreOptions | None = None) -> Store:
        store = await open_store(etcd.url, options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


class TestEtcdConformance(StoreConformance):
    pass
