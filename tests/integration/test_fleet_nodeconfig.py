"""NodeConfig end to end on a small real fleet: rendered per node from matching NodeConfigs
by priority, applied by the real agents, counted in `kubectl get nodeconfigs`, reverted
when removed, and a bad layer reported without touching any node."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration._fleet import FleetEnv, condition, eventually, real_fleet

pytestmark = pytest.mark.integration

SITE_A = """
apiVersion: k3os.io/v1
kind: NodeConfig
metadata: {name: site-a}
spec:
  priority: 10
  nodeSelector: {matchLabels: {site: a}}
  config:
    k3os:
      ntp_servers: [ntp.a.example.com]
      dns_nameservers: [10.0.0.53]
"""

EVERYONE = """
apiVersion: k3os.io/v1
kind: NodeConfig
metadata: {name: everyone}
spec:
  config:
    k3os:
      ntp_servers: [ntp.example.com]
"""

BAD = """
apiVersion: k3os.io/v1
kind: NodeConfig
metadata: {name: bad}
spec:
  priority: 20
  nodeSelector: {matchLabels: {site: b}}
  config:
    k3os:
      ntp_servers: {primary: ntp.b.example.com}
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetEnv]:
    work = tmp_path_factory.mktemp("fleet-nc")
    nodes = {"nc-a1": {"site": "a"}, "nc-a2": {"site": "a"}, "nc-b1": {"site": "b"}}
    with real_fleet(work, nodes) as env:
        yield env


def rendered(env: FleetEnv) -> dict[str, Any]:
    return {r["metadata"]["name"]: r for r in env.get("renderednodeconfigs")["items"]}


def ntp(r: Any) -> Any:
    return ((r["spec"].get("config") or {}).get("k3os") or {}).get("ntp_servers")


def applied(r: Any) -> bool:
    return bool(r.get("status", {}).get("observedHash") == r["spec"]["hash"])


def test_nodeconfigs_reach_matching_nodes_by_priority_and_count(env: FleetEnv) -> None:
    env.apply(EVERYONE)
    env.apply(SITE_A)

    def settled() -> dict[str, Any] | None:
        found = rendered(env)
        ok = (
            ntp(found["nc-a1"]) == ["ntp.a.example.com"]
            and ntp(found["nc-a2"]) == ["ntp.a.example.com"]
            and ntp(found["nc-b1"]) == ["ntp.example.com"]
            and all(applied(r) for r in found.values())
        )
        return found if ok else None

    found = eventually(settled, "rendered configs applied", 60, env)
    sources = [s.get("name") or s["kind"] for s in found["nc-a1"]["spec"]["sources"]]
    assert sources == ["Local", "everyone", "site-a"]
    assert "site-a" not in [s.get("name") for s in found["nc-b1"]["spec"]["sources"]]
    assert found["nc-a1"]["status"]["localConfig"]["hostname"] == "nc-a1"
    # the agent wrote it on its root
    resolv = env.fleet.nodes["nc-a1"].root / "etc/systemd/resolved.conf.d/50-k3os.conf"
    eventually(lambda: resolv.exists() and "10.0.0.53" in resolv.read_text(), "dns", 30, env)

    def counted() -> str | None:
        table = env.kubectl("get", "nodeconfigs")
        rows = {line.split()[0]: line.split()[1:4] for line in table.splitlines()[1:]}
        ok = rows.get("site-a") == ["2", "2", "0"] and rows.get("everyone") == ["3", "3", "0"]
        return table if ok else None

    eventually(counted, "kubectl get nodeconfigs counts", 60, env)
    nc = env.get("nodeconfig", "site-a")
    assert condition(nc, "Updated")["status"] == "True"
    reasons = {e["reason"] for e in env.events("default")}
    assert {"ConfigRendered", "ConfigApplied"} <= reasons


def test_removing_a_nodeconfig_reverts_it(env: FleetEnv) -> None:
    env.kubectl("delete", "nodeconfig", "site-a")

    def reverted() -> bool:
        found = rendered(env)
        return ntp(found["nc-a1"]) == ["ntp.example.com"] and applied(found["nc-a1"])

    eventually(reverted, "site-a reverted on nc-a1", 60, env)
    found = rendered(env)
    assert "dns_nameservers" not in (found["nc-a1"]["spec"]["config"].get("k3os") or {})


def test_an_invalid_layer_is_refused_and_changes_nothing(env: FleetEnv) -> None:
    """The API server checks the layer with the config engine: refused with its field and
    what was expected, so nothing is stored or rendered. (A layer stored where no such
    check runs, a real k3s, degrades its NodeConfig when rendered: the controller's unit
    tests.)"""
    before = rendered(env)["nc-b1"]["spec"]["hash"]
    with pytest.raises(AssertionError) as refused:
        env.apply(BAD)
    assert "spec.config.k3os.ntp_servers" in str(refused.value)
    assert "Invalid value" in str(refused.value)
    assert env.kubectl("get", "nodeconfig", "bad", check=False) == ""
    assert rendered(env)["nc-b1"]["spec"]["hash"] == before
