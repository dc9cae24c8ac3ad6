"""Compact JSON for the hot paths: orjson where it agrees with `json`, `json` elsewhere."""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import UTC, datetime

import pytest

from k3os.apis.jsonbytes import compact, parse


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


def test_parse_reads_what_json_reads() -> None:
    assert parse(b'{"a":[1,2.5,"\xc3\xa9",null,true]}') == {"a": [1, 2.5, "é", None, True]}
    assert parse('{"a":NaN}')["a"] != parse('{"a":NaN}')["a"]  # json's NaN, not an error
    assert parse(b"\xef\xbb\xbf{}") == {}  # a byte-order mark, as json allows in bytes
    assert parse(b'{"a":1e400}') == {"a": float("inf")}
    assert parse(b'{"a":18446744073709551615}') == {"a": 2**64 - 1}  # 64 bits stay exact
    assert parse(b'{"a":1180591620717411303424}') == {"a": float(2**70)}  # as Kubernetes


def test_parse_raises_json_s_error_on_bad_input() -> None:
    with pytest.raises(json.JSONDecodeError) as err:
        parse(b'{"a": 1,\n "b": }')
    assert (err.value.lineno, err.value.colno) == (2, 7)
