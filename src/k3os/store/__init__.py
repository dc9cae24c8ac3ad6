"""Revisioned key-value store with etcd v3 semantics, for the control plane's state.

    store = await open_store("sqlite:///var/lib/k3os/server/db/state.db")
    kv = await store.create("/registry/pods/default/web", b"{...}")
    kv = await store.update(kv.key, b"{...}", expected_mod_revision=kv.mod_revision)
    async with await store.watch("/registry/pods/", start_revision=kv.mod_revision + 1) as w:
        async for event in w: ...

Drivers by URL scheme: `sqlite://` (default), `etcd://` / `http(s)://` (etcd v3), and
`memory://` (tests). The contract is documented on `Store` and `Watch`.
"""

from k3os.store._errors import (
    Compacted,
    Conflict,
    FutureRevision,
    InvalidStoreURL,
    KeyExists,
    KeyNotFound,
    StoreClosed,
    StoreError,
    StoreUnavailable,
)
from k3os.store._interface import Store, Watch
from k3os.store._model import (
    DeleteResult,
    Event,
    EventType,
    KeyValue,
    RangeResult,
    StoreOptions,
)
from k3os.store._registry import DEFAULT_URL, StoreURL, open_store, register_driver

__all__ = [
    "DEFAULT_URL",
    "Compacted",
    "Conflict",
    "DeleteResult",
    "Event",
    "EventType",
    "FutureRevision",
    "InvalidStoreURL",
    "KeyExists",
    "KeyNotFound",
    "KeyValue",
    "RangeResult",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreOptions",
    "StoreURL",
    "StoreUnavailable",
    "Watch",
    "open_store",
    "register_driver",
]
