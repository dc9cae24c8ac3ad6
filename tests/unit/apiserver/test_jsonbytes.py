"""Compact JSON for the hot paths: orjson where it agrees with `json`, `json` elsewhere."""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import UTC, datetime

import pytest

from k3os.apiserver.jsonbytes import compact


class Phase(enum.StrEnum):
    READY = "Ready"


def test_a_kubernetes_object_round_trips_compactly() -> None:
    obj = {"kind": "Node", "metadata": {"name": "n1", "labels": {"é": "ü"}}, "spec": {"n": 1.5}}
    raw = compact(obj)
    assert b" " not in raw
    assert json.loads(raw) == obj
    assert "é".encode() in raw  # UTF-8, not \\u escapes


def test_what_orjson_would_change_is_left_to_json() -> None:
    big = {"n": 2**70}  # beyond 64 bits: exact, as json writes it
    assert json.loads(compact(big)) == big
    assert compact({1: "a"}) == b'{"1":"a"}'  # a non-string key, as json converts it
    assert compact({"phase": Phase.READY}) == b'{"phase":"Ready"}'  # a str subclass


@dataclasses.dataclass
class _Thing:
    x: int


@pytest.mark.parametrize("value", [_Thing(1), datetime(2026, 1, 1, tzinfo=UTC)])
def test_what_json_refuses_is_still_refused(value: object) -> None:
    with pytest.raises(TypeError):
        compact({"v": value})
