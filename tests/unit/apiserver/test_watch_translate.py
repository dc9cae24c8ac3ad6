"""How a store event becomes a watch event for one stream: by its selectors, old and new
version alike, and without decoding the old version when the selectors read only what
the key holds."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from k3os.apiserver import watch
from k3os.apiserver.reads import matcher, selects_by_key
from k3os.apiserver.registry import Registry
from k3os.apiserver.request import ApiRequest
from k3os.store import Event, EventType, KeyValue

NODES = Registry().lookup("", "v1", "nodes")
assert NODES is not None
REVISION = itertools.count(1000)


def kv(name: str, labels: dict[str, str] | None) -> KeyValue | None:
    if labels is None:
        return None
    body = {"metadata": {"name": name, "labels": labels}}
    rev = next(REVISION)
    return KeyValue(NODES.key("", name), json.dumps(body).encode(), 1, rev, 1)


def event(name: str, old: dict[str, str] | None, new: dict[str, str] | None) -> Event:
    prev = kv(name, old)
    if new is None:
        assert prev is not None
        gone = KeyValue(prev.key, b"", 0, next(REVISION), 0)
        return Event(EventType.DELETE, gone, prev)
    now = kv(name, new)
    assert now is not None
    return Event(EventType.PUT, now, prev)


def reference(keep: Any, ev: Event, req: ApiRequest) -> tuple[str, str] | None:
    """The answer by the definition: in or out, before and after."""
    old = watch.ObjectStore.decode(NODES, ev.prev_kv) if ev.prev_kv is not None else None
    new = watch.ObjectStore.decode(NODES, ev.kv) if ev.type is EventType.PUT else None
    old_in = old is not None and (keep is None or keep(old))
    new_in = new is not None and (keep is None or keep(new))
    if new_in:
        return ("MODIFIED" if old_in else "ADDED"), new["metadata"]["name"]
    if old_in:
        assert old is not None
        return "DELETED", old["metadata"]["name"]
    return None


CHANGES = [(None, {"a": "1"}), ({"a": "1"}, {"a": "2"}), ({"a": "2"}, {"b": "1"}),
           ({"b": "1"}, {"a": "1"}), ({"a": "1"}, None), ({"b": "1"}, None)]  # fmt: skip
QUERIES = [{}, {"labelSelector": "a"}, {"labelSelector": "a=1"},
           {"fieldSelector": "metadata.name=n1"}, {"fieldSelector": "metadata.name=n2"},
           {"fieldSelector": "metadata.name!=n1"},
           {"fieldSelector": "metadata.name=n1", "labelSelector": "a"}]  # fmt: skip


@pytest.mark.parametrize("query", QUERIES)
def test_every_change_translates_as_its_definition(query: dict[str, str]) -> None:
    keep = matcher(NODES, query)
    req = ApiRequest(NODES, "", "", "", query)
    by_key = keep is not None and selects_by_key(query)
    for old, new in CHANGES:
        ev = event("n1", old, new)
        got = watch._translate(req, ev, keep, by_key)
        want = reference(keep, ev, req)
        assert (None if got is None else (got[0], got[1]["metadata"]["name"])) == want


def test_a_watch_by_name_does_not_decode_the_previous_version(monkeypatch: Any) -> None:
    query = {"fieldSelector": "metadata.name=n1"}
    assert selects_by_key(query) and not selects_by_key({"labelSelector": "a"})
    assert not selects_by_key({"fieldSelector": "spec.unschedulable=true"})
    decoded: list[int] = []
    real = watch._SHARED.decode

    def counting(req: ApiRequest, item: KeyValue) -> Any:
        decoded.append(item.mod_revision)
        return real(req, item)

    monkeypatch.setattr(watch._SHARED, "decode", counting)
    ev = event("n1", {"a": "1"}, {"a": "2"})
    assert ev.prev_kv is not None
    req = ApiRequest(NODES, "", "", "", query)
    got = watch._translate(req, ev, matcher(NODES, query), True)
    assert got is not None and got[0] == "MODIFIED"
    assert decoded == [ev.kv.mod_revision]
