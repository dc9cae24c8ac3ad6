"""NodeConfig rendering (selection, priority, merge rules, reverts) and status aggregation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k3os.apis import NodeConfig, RenderedNodeConfig, RenderedNodeConfigStatus, find_condition
from k3os.controllers.decisions import (
    InvalidNodeConfig,
    config_hash,
    matching_nodeconfigs,
    node_apply_status,
    nodeconfig_status,
    render_node_config,
)

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def nc(
    name: str,
    config: dict[str, Any],
    *,
    priority: int = 0,
    selector: Any = None,
    generation: int = 1,
) -> NodeConfig:
    spec: dict[str, Any] = {"config": config, "priority": priority}
    if selector is not None:
        spec["nodeSelector"] = selector
    return NodeConfig.model_validate(
        {"metadata": {"name": name, "generation": generation}, "spec": spec}
    )


# ---- rendering --------------------------------------------------------------------------

LOCAL = {
    "hostname": "edge-1",
    "ssh_authorized_keys": ["ssh-ed25519 LOCAL"],
    "k3os": {"ntp_servers": ["pool.ntp.org"]},
}
BERLIN = {"matchLabels": {"site": "berlin"}}


def test_local_config_alone() -> None:
    rendering = render_node_config({"site": "berlin"}, LOCAL, [])
    assert rendering.config == LOCAL
    assert [s.kind for s in rendering.sources] == ["Local"]
    assert rendering.hash == config_hash(LOCAL)
    spec = rendering.spec("edge-1")
    assert spec.node_name == "edge-1"
    assert spec.hash == rendering.hash


def test_matching_configs_merge_by_priority_then_name() -> None:
    configs = [
        nc("z-site", {"k3os": {"ntp_servers": ["ntp.berlin"]}}, priority=10, selector=BERLIN),
        nc("a-fleet", {"k3os": {"ntp_servers": ["ntp.fleet"], "dns_nameservers": ["10.0.0.53"]}}),
        nc("b-fleet", {"k3os": {"dns_nameservers": ["10.0.0.54"]}}),
        nc(
            "munich",
            {"hostname": "nope"},
            priority=99,
            selector={"matchLabels": {"site": "munich"}},
        ),
    ]
    rendering = render_node_config({"site": "berlin"}, LOCAL, configs)
    assert rendering.config["k3os"] == {
        "ntp_servers": ["ntp.berlin"],
        "dns_nameservers": ["10.0.0.54"],
    }
    assert rendering.config["hostname"] == "edge-1"
    assert [(s.kind, s.name, s.priority) for s in rendering.sources] == [
        ("Local", "", 0),
        ("NodeConfig", "a-fleet", 0),
        ("NodeConfig", "b-fleet", 0),
        ("NodeConfig", "z-site", 10),
    ]
    assert [c.metadata.name for c in matching_nodeconfigs({"site": "munich"}, configs)] == [
        "a-fleet",
        "b-fleet",
        "munich",
    ]


def test_removing_a_nodeconfig_reverts_what_it_set_on_the_next_render() -> None:
    keys = nc(
        "keys", {"ssh_authorized_keys+": ["ssh-ed25519 OPS"], "k3os": {"ntp_servers": ["ntp.corp"]}}
    )
    sysctl = nc("sysctl", {"k3os": {"sysctl": {"vm.max_map_count": "262144"}}})
    with_both = render_node_config({}, LOCAL, [keys, sysctl])
    assert with_both.config["ssh_authorized_keys"] == ["ssh-ed25519 LOCAL", "ssh-ed25519 OPS"]
    assert with_both.config["k3os"]["ntp_servers"] == ["ntp.corp"]
    assert with_both.config["k3os"]["sysctl"] == {"vm.max_map_count": "262144"}
    without_keys = render_node_config({}, LOCAL, [sysctl])
    assert without_keys.config["ssh_authorized_keys"] == ["ssh-ed25519 LOCAL"]
    assert without_keys.config["k3os"]["ntp_servers"] == ["pool.ntp.org"]
    assert without_keys.hash != with_both.hash
    back_to_local = render_node_config({}, LOCAL, [])
    assert back_to_local.config == LOCAL
    assert back_to_local.hash == config_hash(LOCAL)


def test_a_label_change_moves_a_node_between_configs() -> None:
    site = nc("site", {"k3os": {"ntp_servers": ["ntp.berlin"]}}, selector=BERLIN)
    assert render_node_config({"site": "berlin"}, None, [site]).config == {
        "k3os": {"ntp_servers": ["ntp.berlin"]}
    }
    moved = render_node_config({"site": "paris"}, None, [site])
    assert moved.config == {}
    assert moved.sources == ()


def test_hash_ignores_key_order_but_not_content() -> None:
    assert config_hash({"a": 1, "b": {"c": 2, "d": 3}}) == config_hash(
        {"b": {"d": 3, "c": 2}, "a": 1}
    )
    assert config_hash({"a": 1}) != config_hash({"a": "1"})
    assert len(config_hash({})) == 64


def test_layers_are_read_with_the_config_engines_spelling_and_coercions() -> None:
    camel = nc(
        "camel",
        {"sshAuthorizedKeys": "ssh-ed25519 OPS", "k3os": {"sysctls": {"vm.swappiness": 10}}},
    )
    rendering = render_node_config({}, LOCAL, [camel])
    assert rendering.config["ssh_authorized_keys"] == ["ssh-ed25519 OPS"]
    assert rendering.config["k3os"]["sysctl"] == {"vm.swappiness": "10"}
    assert "sshAuthorizedKeys" not in rendering.config
    same = nc(
        "snake",
        {"ssh_authorized_keys": ["ssh-ed25519 OPS"], "k3os": {"sysctl": {"vm.swappiness": "10"}}},
    )
    assert render_node_config({}, LOCAL, [same]).hash == rendering.hash


@pytest.mark.parametrize(
    ("local", "layer", "message"),
    [
        (LOCAL, {"hostnmae": "x"}, "NodeConfig/bad: hostnmae: unknown key"),
        (
            LOCAL,
            {"k3os": {"ntp_servers": [{"a": 1}]}},
            "NodeConfig/bad: k3os.ntp_servers[0]: Input should be a valid string",
        ),
        (LOCAL, {"hostname+": ["x"]}, "NodeConfig/bad"),
        ({"k3os": {"bogus": 1}}, {}, "local config"),
    ],
)
def test_a_bad_layer_stops_the_render_and_says_where(
    local: dict[str, Any], layer: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidNodeConfig) as caught:
        render_node_config({}, local, [nc("bad", layer)])
    assert message in str(caught.value)
    assert str(caught.value).startswith("cannot render: ")


def test_the_merged_result_is_checked_too() -> None:
    def loose(config: Mapping[str, Any], *, source: str) -> dict[str, Any]:
        return dict(config)

    with pytest.raises(InvalidNodeConfig, match="merged config"):
        render_node_config({}, {"k3os": {"ntp_servers": [{"a": 1}]}}, [], normalize=loose)


def test_merge_hook() -> None:
    calls: list[tuple[Any, Any]] = []

    def recording_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
        calls.append((dict(base), dict(overlay)))
        return {**base, **overlay}

    render_node_config({}, {"hostname": "a"}, [nc("h", {"hostname": "b"})], merge=recording_merge)
    assert calls == [({}, {"hostname": "a"}), ({"hostname": "a"}, {"hostname": "b"})]


# ---- status -----------------------------------------------------------------------------


def rendered(
    node: str,
    sources: list[tuple[str, int]],
    *,
    observed: str | None,
    error: str | None = None,
    hash_: str = "h",
) -> RenderedNodeConfig:
    obj = RenderedNodeConfig.model_validate(
        {
            "metadata": {"name": node},
            "spec": {
                "nodeName": node,
                "hash": hash_,
                "sources": [
                    {"kind": "Local"},
                    *({"kind": "NodeConfig", "name": n, "generation": g} for n, g in sources),
                ],
            },
        }
    )
    if observed is None:
        return obj
    status = node_apply_status(RenderedNodeConfigStatus(), observed, error, NOW)
    return obj.model_copy(update={"status": status})


def test_status_counts_matched_updated_failed_pending() -> None:
    site = nc("site", {}, selector=BERLIN, generation=4)
    nodes = {
        "ok": {"site": "berlin"},
        "broken": {"site": "berlin"},
        "new": {"site": "berlin"},
        "stale": {"site": "berlin"},
        "lagging": {"site": "berlin"},
        "paris": {"site": "paris"},
    }
    objs = {
        "ok": rendered("ok", [("site", 4)], observed="h"),
        "broken": rendered(
            "broken", [("site", 4)], observed="h", error="write_files[0]: permission denied"
        ),
        "stale": rendered("stale", [("site", 3)], observed="h"),
        "lagging": rendered("lagging", [("site", 4)], observed="old"),
        "paris": rendered("paris", [], observed="h"),
    }
    status = nodeconfig_status(site, nodes, objs, NOW)
    assert (status.matched, status.updated, status.failed, status.pending) == (5, 1, 1, 3)
    assert status.observed_generation == 4
    degraded = find_condition(status.conditions, "Degraded")
    assert degraded is not None
    assert degraded.status == "True"
    assert "broken: write_files[0]: permission denied" in degraded.message
    updated = find_condition(status.conditions, "Updated")
    assert updated is not None
    assert (updated.status, updated.message) == ("False", "1 of 5 matched node(s) updated")


def test_status_all_updated() -> None:
    fleet = nc("fleet", {})
    nodes = {"a": {}, "b": {"x": "y"}}
    objs = {n: rendered(n, [("fleet", 1)], observed="h") for n in nodes}
    status = nodeconfig_status(fleet, nodes, objs, NOW)
    assert (status.matched, status.updated, status.failed, status.pending) == (2, 2, 0, 0)
    assert {c.type: c.status for c in status.conditions} == {"Updated": "True", "Degraded": "False"}


def test_status_of_a_node_applied_without_conditions_is_pending() -> None:
    fleet = nc("fleet", {})
    obj = rendered("a", [("fleet", 1)], observed=None)
    obj = obj.model_copy(update={"status": RenderedNodeConfigStatus(observed_hash="h")})
    assert nodeconfig_status(fleet, {"a": {}}, {"a": obj}, NOW).pending == 1


def test_node_apply_status_flips_conditions_with_transition_times() -> None:
    failed = node_apply_status(RenderedNodeConfigStatus(local_config={"a": 1}), "h1", "boom", NOW)
    assert failed.observed_hash == "h1"
    assert failed.local_config == {"a": 1}
    assert {c.type: (c.status, c.message) for c in failed.conditions} == {
        "Applied": ("False", "boom"),
        "Degraded": ("True", "boom"),
    }
    later = NOW + timedelta(minutes=1)
    fixed = node_apply_status(failed, "h2", None, later)
    assert {c.type: c.status for c in fixed.conditions} == {"Applied": "True", "Degraded": "False"}
    assert all(c.last_transition_time == later for c in fixed.conditions)


def test_appends_are_checked_after_merging() -> None:
    server = {"k3os": {"k3s_args": ["server"]}}
    extra = nc("extra", {"k3os": {"k3s_args+": ["--disable=traefik"]}})
    rendering = render_node_config({}, server, [extra])
    assert rendering.config["k3os"]["k3s_args"] == ["server", "--disable=traefik"]
    with pytest.raises(InvalidNodeConfig, match=r"merged config: .*k3s_args"):
        render_node_config({}, {}, [extra])


@settings(max_examples=60, deadline=None)
@given(
    layers=st.lists(
        st.tuples(
            st.integers(-2, 2),
            st.sampled_from(["ntp_servers", "dns_nameservers", "modules"]),
            st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
            st.booleans(),
        ),
        max_size=6,
    ),
    data=st.data(),
)
def test_render_depends_on_priorities_and_names_not_on_list_order(
    layers: list[tuple[int, str, list[str], bool]], data: st.DataObject
) -> None:
    configs = [
        nc(f"nc-{i}", {"k3os": {key + ("+" if append else ""): values}}, priority=priority)
        for i, (priority, key, values, append) in enumerate(layers)
    ]
    shuffled = data.draw(st.permutations(configs))
    one = render_node_config({}, {"hostname": "h"}, configs)
    two = render_node_config({}, {"hostname": "h"}, shuffled)
    assert one == two
