"""Recent items for `Store.recent`: what a store client last read or wrote, by key.

A write that starts from a recent item instead of a read saves a round trip to the store;
its compare-and-swap (the item's mod revision) decides whether the item was still current.
"""

from __future__ import annotations

from collections import OrderedDict

from k3os.store._model import Event, EventType, KeyValue

__all__ = ["ABSENT", "RECENT_BYTES", "RECENT_KEYS", "Recent"]

#: Bounds of the recent items: keys, and their values' bytes.
RECENT_KEYS = 8192
RECENT_BYTES = 16 * 1024 * 1024
ABSENT = 1 << 62  # `Recent.forget`'s revision for a key found absent: whatever was kept goes


class Recent:
    """The latest item known of the keys a store client read or wrote last, least recently
    used first out (`Store.recent`). Items only move forward: a higher mod revision replaces
    a lower one. A driver that follows the store's events (`follow`) keeps the keys it holds
    current; one that does not knows only its own reads and writes."""

    def __init__(self, max_keys: int = RECENT_KEYS, max_bytes: int = RECENT_BYTES) -> None:
        self.max_keys, self.max_bytes = max_keys, max_bytes
        self._items: OrderedDict[str, KeyValue] = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> KeyValue | None:
        kv = self._items.get(key)
        if kv is not None:
            self._items.move_to_end(key)
        return kv

    def remember(self, kv: KeyValue) -> None:
        """An item read or written now: kept unless a newer one is."""
        old = self._items.get(kv.key)
        if old is not None:
            if old.mod_revision >= kv.mod_revision:
                return
            self._bytes -= len(old.value)
        self._items[kv.key] = kv
        self._items.move_to_end(kv.key)
        self._bytes += len(kv.value)
        while len(self._items) > self.max_keys or self._bytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped.value)

    def forget(self, key: str, revision: int) -> None:
        """The key was deleted at `revision`."""
        old = self._items.get(key)
        if old is not None and old.mod_revision < revision:
            del self._items[key]
            self._bytes -= len(old.value)

    def follow(self, events: list[Event]) -> None:
        """The owner's events: keys held take their new items (others are not added)."""
        items = self._items
        for event in events:
            kv = event.kv
            old = items.get(kv.key)
            if old is None or old.mod_revision >= kv.mod_revision:
                continue
            self._bytes -= len(old.value)
            if event.type is EventType.DELETE:
                del items[kv.key]
            else:
                items[kv.key] = kv  # its place in the LRU is its last use here, kept
                self._bytes += len(kv.value)

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
