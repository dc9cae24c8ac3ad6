"""An informer's in-memory copy of a collection: objects by (namespace, name), plus
optional secondary indices (by owner uid, by node name, …) kept up to date on every change,
and the keys changed since a reader last looked (`track`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from k3os.client.resources import object_key

__all__ = ["Cache", "Key"]

Obj = dict[str, Any]
Key = tuple[str, str]
IndexFunc = Callable[[Obj], Iterable[str]]


class Cache:
    def __init__(self) -> None:
        self._objects: dict[Key, Obj] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[Key]]] = {}
        self._trackers: list[set[Key]] = []

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def __iter__(self) -> Iterator[Obj]:
        return iter(list(self._objects.values()))

    def get(self, name: str, namespace: str = "") -> Obj | None:
        return self._objects.get((namespace, name))

    def list_keys(self) -> list[Key]:
        return list(self._objects)

    def objects(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self._objects.values())
        return [o for (ns, _), o in self._objects.items() if ns == namespace]

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Index objects by `func(obj)`'s values (call before the informer starts)."""
        self._index_funcs[name] = func
        index: dict[str, set[Key]] = {}
        for key, obj in self._objects.items():
            for value in func(obj):
                index.setdefault(value, set()).add(key)
        self._indices[name] = index

    def by_index(self, name: str, value: str) -> list[Obj]:
        keys = self._indices[name].get(value, ())
        return [self._objects[k] for k in sorted(keys)]

    def track(self) -> set[Key]:
        """A set the cache adds the key of every object stored or removed to, from now on:
        who keeps something derived from each object reads (and empties) it to redo only
        what changed, without a scan of the collection."""
        changed: set[Key] = set()
        self._trackers.append(changed)
        return changed

    def untrack(self, changed: set[Key]) -> None:
        self._trackers = [t for t in self._trackers if t is not changed]

    def upsert(self, obj: Obj) -> Obj | None:
        """Store `obj`; the previous version, if any."""
        key = object_key(obj)
        for changed in self._trackers:
            changed.add(key)
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = obj
        for name, func in self._index_funcs.items():
            for value in func(obj):
                self._indices[name].setdefault(value, set()).add(key)
        return old

    def remove(self, key: Key) -> Obj | None:
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
            for changed in self._trackers:
                changed.add(key)
        return old

    def _unindex(self, key: Key, obj: Obj) -> None:
        for name, func in self._index_funcs.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
