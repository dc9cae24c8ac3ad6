"""Property: any valid config, applied to a fresh root, converges; applying again writes
nothing; and the public surface of k3os.host is exactly what its docstring promises."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k3os import host
from k3os.config import NodeConfig

_word = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
_value = st.text(
    st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters="\\"), max_size=10
)
_config = st.fixed_dictionaries(
    {},
    optional={
        "hostname": _word,
        "write_files": st.lists(
            st.fixed_dictionaries(
                {"path": _word.map(lambda w: f"/srv/{w}"), "content": _value},
                optional={"permissions": st.sampled_from(["0600", "0644", "0755"])},
            ),
            max_size=3,
            unique_by=lambda f: f["path"],
        ),
        "ssh_authorized_keys": st.lists(_word.map(lambda w: f"ssh-ed25519 {w} k"), max_size=2),
        "network": st.fixed_dictionaries(
            {
                "interfaces": st.dictionaries(
                    st.sampled_from(["eth0", "eth1"]), st.just({}), max_size=2
                )
            }
        ),
        "k3os": st.fixed_dictionaries(
            {},
            optional={
                "sysctl": st.dictionaries(_word.map(lambda w: f"vm.{w}"), _word, max_size=3),
                "modules": st.lists(_word, max_size=3),
                "environment": st.dictionaries(_word.map(str.upper), _value, max_size=3),
                "labels": st.dictionaries(_word, _word, max_size=2),
                "dns_nameservers": st.lists(st.sampled_from(["1.1.1.1", "9.9.9.9"]), max_size=2),
            },
        ),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_config, _config, st.sampled_from(host.PHASES))
def test_apply_converges_then_writes_nothing(
    first: dict[str, Any], second: dict[str, Any], phase: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for data in (first, second):  # from one config to another, then steady
            config = NodeConfig.model_validate(data)
            assert host.apply(host.plan(config, root, phase, fetch=lambda url: "")).ok
            again = host.plan(config, root, phase, fetch=lambda url: "")
            assert again.changes == [], again.diff()


def test_public_surface() -> None:
    assert sorted(host.__all__) == sorted(
        [
            "PHASES", "ApplyReport", "Command", "CommandResult", "HostError", "Plan", "PlanError",
            "RootRefused", "apply", "phase_table", "plan", "resolve_root",
        ]
    )  # fmt: skip
    assert all(hasattr(host, name) for name in host.__all__)
