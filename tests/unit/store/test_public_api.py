"""The public surface of k3os.store is exactly what `__all__` says."""

from __future__ import annotations

import k3os.store
from k3os.store import Conflict, KeyExists, KeyNotFound, StoreClosed, StoreError, StoreUnavailable

EXPORTED = {
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
}


def test_exported_names_are_exactly_these() -> None:
    assert set(k3os.store.__all__) == EXPORTED
    assert len(k3os.store.__all__) == len(EXPORTED)
    public = {name for name in vars(k3os.store) if not name.startswith("_")}
    assert public == EXPORTED


def test_exported_names_say_they_belong_to_the_store() -> None:
    for name in EXPORTED:
        obj = getattr(k3os.store, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__.startswith("k3os.store"), name


def test_error_tree() -> None:
    assert issubclass(KeyExists, Conflict)
    assert issubclass(KeyNotFound, Conflict)
    assert issubclass(StoreClosed, StoreUnavailable)
    for name in EXPORTED:
        obj = getattr(k3os.store, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, StoreError), name
