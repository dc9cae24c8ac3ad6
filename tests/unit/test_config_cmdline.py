"""The kernel command line source, with property tests for the parser."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k3os.config import ConfigSchemaError, format_cmdline, parse_cmdline
from k3os.config.cmdline import split_cmdline
from k3os.config.load import cmdline_layer


def test_k3os_keys_nesting_lists_and_bare_keys() -> None:
    data, marks = parse_cmdline(
        "BOOT_IMAGE=/vmlinuz console=ttyS0 quiet k3os.mode=install k3os.install.silent "
        '"k3os.password=two words" k3os.modules=a k3os.modules=b k3os.modules=c '
        'hostname=edge init_cmd="echo hi" k3os.sysctl.vm.max_map_count=5 '
        'k3os.sysctl[kernel.printk]="4 4 1 7" k3os.labels.example.com/site=x -- single'
    )
    assert data == {
        "k3os": {
            "mode": "install",
            "install": {"silent": "true"},
            "password": "two words",
            "modules": ["a", "b", "c"],
            "sysctl": {"vm.max_map_count": "5", "kernel.printk": "4 4 1 7"},
            "labels": {"example.com/site": "x"},
        },
        "hostname": "edge",
        "init_cmd": "echo hi",
    }
    assert marks[("k3os", "modules", 2)].detail == "k3os.modules=c"
    assert str(marks[("hostname",)]) == "kernel command line (hostname=edge)"


def test_cmdline_layer_is_checked_and_coerced() -> None:
    layer = cmdline_layer("k3os.install.silent k3os.dns_nameserver=1.1.1.1 k3os.modules+=x")
    assert layer.data == {
        "k3os": {"install": {"silent": "true"}, "dns_nameservers": ["1.1.1.1"], "modules+": ["x"]}
    }
    with pytest.raises(ConfigSchemaError, match=r"kernel command line \(hostname=-x\): hostname"):
        cmdline_layer("hostname=-x")


@pytest.mark.parametrize(
    "text",
    ["k3os.install=x k3os.install.device=y", "k3os.install.device=y k3os.install=x", "k3os..x=1"],
)
def test_conflicting_keys_are_errors(text: str) -> None:
    with pytest.raises(ConfigSchemaError):
        parse_cmdline(text)


def test_split_like_the_kernel() -> None:
    assert split_cmdline('  a="b c"  "d=e f" g""h\n') == ["a=b c", "d=e f", "gh"]
    assert split_cmdline('x=""') == ["x="]


def test_format_cmdline_rejects_quotes() -> None:
    with pytest.raises(ValueError, match="cannot contain"):
        format_cmdline({"k3os.password": 'a"b'})


_part = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_key = st.lists(_part, min_size=1, max_size=3).map(lambda parts: "k3os.install." + ".".join(parts))
_value = st.text(
    st.characters(blacklist_characters='"\0', blacklist_categories=("Cs", "Cc")), max_size=12
)
_values = st.one_of(_value, st.lists(_value, min_size=2, max_size=4), st.just(True))


def _nest(flat: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[leaf] = "true" if value is True else value
    return out


def _prefix_free(keys: list[str]) -> bool:
    return not any(a != b and b.startswith(a + ".") for a in keys for b in keys)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_key, _values, max_size=5).filter(lambda d: _prefix_free(list(d))))
def test_format_then_parse_round_trips(settings_: dict[str, object]) -> None:
    text = format_cmdline(settings_)  # type: ignore[arg-type]
    noisy = f"BOOT_IMAGE=/k quiet console=tty0 {text} panic=5"
    data, _ = parse_cmdline(noisy)
    assert data == (_nest(settings_) if settings_ else {})


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_parser_never_crashes_on_noise(text: str) -> None:
    with contextlib.suppress(ConfigSchemaError):
        parse_cmdline(text)
