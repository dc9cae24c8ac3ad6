"""Merge rules (objects by key, scalars and lists replace, `key+` appends), with properties."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from k3os.config import Layer, Origin, merge, merge_layers


def test_rules() -> None:
    base = {
        "hostname": "a",
        "k3os": {"labels": {"x": "1"}, "modules": ["m1"], "dns_nameservers": ["1.1.1.1"]},
    }
    over = {"k3os": {"labels": {"y": "2"}, "modules+": ["m2"], "dns_nameservers": ["9.9.9.9"]}}
    assert merge(base, over) == {
        "hostname": "a",
        "k3os": {
            "labels": {"x": "1", "y": "2"},
            "modules": ["m1", "m2"],
            "dns_nameservers": ["9.9.9.9"],
        },
    }
    assert base["k3os"]["modules"] == ["m1"]  # inputs untouched


def test_append_with_nothing_before_sets_and_nested_plus_is_stripped() -> None:
    assert merge({}, {"run_cmd+": ["a"]}) == {"run_cmd": ["a"]}
    assert merge({"k3os": "x"}, {"k3os": {"modules+": ["a"]}}) == {"k3os": {"modules": ["a"]}}


def test_provenance_follows_the_winner() -> None:
    a = Layer("a", {"k3os": {"modules": ["x"], "labels": {"s": "1"}}}, {})
    b = Layer(
        "b",
        {"k3os": {"modules+": ["y"], "labels": {"s": "2"}}},
        {("k3os", "modules", 0): Origin("b", "b.yaml", 3, 5)},
    )
    c = Layer("c", {"k3os": {"labels": {}}}, {})
    data, prov = merge_layers([a, b, c])
    assert data == {"k3os": {"modules": ["x", "y"], "labels": {"s": "2"}}}  # {} merges nothing
    assert prov[("k3os", "modules", 0)].source == "a"
    assert str(prov[("k3os", "modules", 1)]) == "b.yaml:3:5"
    assert prov[("k3os", "labels", "s")].source == "b"
    data, prov = merge_layers([a, Layer("d", {"k3os": {"labels": []}})])
    assert data["k3os"]["labels"] == [] and prov[("k3os", "labels")].source == "d"


_scalar = st.one_of(st.text(max_size=4), st.integers(), st.booleans())
_keys = st.sampled_from(["a", "b", "c", "d"])
_tree = st.recursive(
    st.one_of(_scalar, st.lists(_scalar, max_size=3)),
    lambda inner: st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)
_layer = st.dictionaries(_keys, _tree, max_size=4)


def _reference(base: Any, over: Any) -> Any:
    """The rules, written the obvious way (without `+`)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _reference(base[k], v) if k in base else v
        return out
    return over


@settings(max_examples=200, deadline=None)
@given(_layer, _layer, _layer)
def test_layering_is_a_left_fold_and_later_wins(
    a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]
) -> None:
    assert merge(a, b) == _reference(a, b)
    assert merge(a, a) == a
    assert merge({}, a) == a == merge(a, {})
    data, _ = merge_layers([Layer("a", a), Layer("b", b), Layer("c", c)])
    assert data == merge(merge(a, b), c)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=3), max_size=3), min_size=1, max_size=5))
def test_plus_appends_in_layer_order(lists: list[list[str]]) -> None:
    layers = [Layer(f"l{i}", {"k3os": {"modules+": items}}) for i, items in enumerate(lists)]
    data, prov = merge_layers(layers)
    flat = [item for items in lists for item in items]
    assert data["k3os"]["modules"] == flat
    owners = [prov[("k3os", "modules", i)].source for i in range(len(flat))]
    assert owners == [f"l{i}" for i, items in enumerate(lists) for _ in items]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.text(max_size=3), max_size=3), min_size=1, max_size=5))
def test_plain_list_keeps_only_the_last(lists: list[list[str]]) -> None:
    data, _ = merge_layers([Layer(f"l{i}", {"run_cmd": items}) for i, items in enumerate(lists)])
    assert data["run_cmd"] == lists[-1]
