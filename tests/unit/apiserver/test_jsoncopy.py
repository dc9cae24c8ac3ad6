"""`deep_copy`: equal to `copy.deepcopy` for JSON data and for anything else."""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

import pytest

from k3os.apiserver.jsoncopy import deep_copy

pytestmark = pytest.mark.unit


def test_plain_data_is_copied_deeply_and_shared_parts_stay_shared() -> None:
    shared: dict[str, Any] = {"k": [1, 2.5, None, True, "s"]}
    value = {"a": shared, "b": shared, "c": [{"d": {}}], "big": 2**80}
    got = deep_copy(value)
    assert got == value and got is not value
    assert got["a"] is not shared and got["a"]["k"] is not shared["k"]
    assert got["a"] is got["b"]  # as copy.deepcopy keeps them
    got["c"][0]["d"]["x"] = 1
    assert value["c"] == [{"d": {}}]


def test_other_types_fall_back_to_deepcopy() -> None:
    value = {"o": OrderedDict(a=[1])}
    got = deep_copy(value)
    assert got == copy.deepcopy(value) and type(got["o"]) is OrderedDict
    assert got["o"]["a"] is not value["o"]["a"]
