"""Loading manifests: typed objects for our kinds, one precise line for bad input."""

from __future__ import annotations

import pytest

from k3os.apis import InvalidObject, NodeConfig, Plan, RenderedNodeConfig, load_object, load_objects

GOOD = """
apiVersion: k3os.io/v1
kind: NodeConfig
metadata: {name: berlin, generation: 3}
spec:
  priority: 10
  nodeSelector: {matchLabels: {site: berlin}}
  config:
    k3os:
      ntp_servers: [ntp.berlin.example]
---
apiVersion: k3os.io/v1
kind: RenderedNodeConfig
metadata: {name: node-1}
spec: {nodeName: node-1, hash: abc, config: {hostname: node-1}, sources: [{kind: Local}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other}
---
"""


def test_our_kinds_come_back_typed_and_others_unchanged() -> None:
    nc, rendered, other = load_objects(GOOD, file="fleet.yaml")
    assert isinstance(nc, NodeConfig)
    assert nc.spec.priority == 10
    assert nc.spec.config == {"k3os": {"ntp_servers": ["ntp.berlin.example"]}}
    assert isinstance(rendered, RenderedNodeConfig)
    assert rendered.spec.sources[0].kind == "Local"
    assert other == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: upgrade.cattle.io/v1\nkind: Plan\nmetadata: {name: p}\nspec:\n"
            "  version: v1\n  upgrade: {image: x}\n  drain:\n    timeout: soon\n",
            "plan.yaml:8: Plan/p: spec.drain.timeout: expected a duration",
        ),
        (
            "apiVersion: upgrade.cattle.io/v1\nkind: Plan\nmetadata: {name: p}\nspec:\n"
            "  version: v1\n  upgrade: {image: x}\n  concurency: 2\n",
            "plan.yaml:7: Plan/p: spec.concurency: Extra inputs are not permitted",
        ),
        (
            "apiVersion: upgrade.cattle.io/v1\nkind: Plan\nspec:\n  version: v1\n"
            "  upgrade: {image: x}\n  tolerations:\n  - {operator: Maybe}\n",
            "plan.yaml:7: Plan: spec.tolerations[0].operator: Input should be 'Exists' or 'Equal'",
        ),
        (
            "apiVersion: upgrade.cattle.io/v1\nkind: Plan\nmetadata: {name: p}\nspec: {}\n",
            "plan.yaml:4: Plan/p: spec.upgrade: Field required",
        ),
        ("a: [1, 2\n", "plan.yaml:2: ?: (yaml): expected ',' or ']'"),
        ("- just\n- a list\n", "plan.yaml: ?: (top level): expected a mapping"),
    ],
)
def test_bad_manifests_name_file_line_and_field(text: str, message: str) -> None:
    with pytest.raises(InvalidObject) as caught:
        load_objects(text, file="plan.yaml")
    assert str(caught.value).startswith(message)


def test_load_object_without_yaml_positions() -> None:
    with pytest.raises(InvalidObject, match=r"^<object>: NodeConfig: spec.priority: "):
        load_object({"apiVersion": "k3os.io/v1", "kind": "NodeConfig", "spec": {"priority": "x"}})
    plan = load_object(
        {
            "apiVersion": "upgrade.cattle.io/v1",
            "kind": "Plan",
            "spec": {"channel": "u", "upgrade": {"image": "i"}},
        }
    )
    assert isinstance(plan, Plan)
