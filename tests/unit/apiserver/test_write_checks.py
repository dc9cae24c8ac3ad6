"""A patch is checked against the schema only where it changes the stored object; what
looks equal but is not of the same type (80.0, true for 1) is still checked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from k3os.apiserver.validation import check_object
from tests.unit.apiserver._api import Api, api_server, pod

pytestmark = pytest.mark.unit

PODS = "/api/v1/namespaces/default/pods"
PORT = "/spec/containers/0/ports/0/containerPort"


async def _json_patch(api: Api, name: str, ops: list[dict[str, Any]]) -> Any:
    return await api.http.patch(
        f"{PODS}/{name}",
        content=json.dumps(ops).encode(),
        headers={"content-type": "application/json-patch+json"},
    )


async def test_values_equal_but_of_another_type_are_still_checked() -> None:
    async with api_server() as api:
        body = pod("p")
        body["spec"]["containers"][0]["ports"] = [{"containerPort": 1}]
        assert (await api.create(PODS, body)).status_code == 201
        r = await _json_patch(api, "p", [{"op": "replace", "path": PORT, "value": 1.0}])
        assert r.status_code == 200, r.text
        port = r.json()["spec"]["containers"][0]["ports"][0]["containerPort"]
        assert port == 1 and type(port) is int  # made an integer again
        r = await _json_patch(api, "p", [{"op": "replace", "path": PORT, "value": True}])
        assert r.status_code == 400 and "expected integer, got bool" in r.text
        stored = (await api.http.get(f"{PODS}/p")).json()
        assert stored["spec"]["containers"][0]["ports"][0]["containerPort"] == 1
        r = await _json_patch(api, "p", [{"op": "add", "path": "/spec/containers/0/bogus",
                                          "value": {"x": 1}}])  # fmt: skip
        assert r.status_code == 200 and "bogus" not in r.text  # pruned, with a warning
        assert 'unknown field \\"spec.containers[0].bogus\\"' in r.headers["warning"]


def test_parts_equal_to_the_stored_object_are_not_walked() -> None:
    from k3os.apiserver.schemas import normalized

    defs = normalized(("io.k8s.api.core.v1.Pod",))
    stored = {"spec": {"containers": [{"name": "c", "image": "i", "ports": [
        {"containerPort": 1}]}]}, "metadata": {"labels": {"a": "b"}}}  # fmt: skip
    # An unknown field in a stored part is not seen again (it was pruned when written)...
    sneaky = json.loads(json.dumps(stored))
    sneaky["metadata"]["bogus"] = 1
    stored["metadata"]["bogus"] = 1
    checked = check_object(defs, "io.k8s.api.core.v1.Pod", sneaky, stored)
    assert checked.unknown == [] and checked.obj["metadata"]["bogus"] == 1
    # ... while every changed part is walked, down to the changed list element.
    changed = json.loads(json.dumps(sneaky))
    changed["spec"]["containers"][0]["ports"][0]["containerPort"] = "x"
    changed["spec"]["containers"][0]["other"] = 1
    checked = check_object(defs, "io.k8s.api.core.v1.Pod", changed, stored)
    assert checked.unknown == ["spec.containers[0].other"]
    assert checked.type_errors == ["spec.containers[0].ports[0].containerPort: expected "
                                   "integer, got string"]  # fmt: skip
    assert sorted(check_object(defs, "io.k8s.api.core.v1.Pod", changed).unknown) == [
        "metadata.bogus", "spec.containers[0].other"]  # fmt: skip


def test_only_plain_equal_data_counts_as_stored() -> None:
    from collections import OrderedDict

    from k3os.apiserver.validation import same_as_stored as _same

    assert _same({"a": [1, "x"]}, {"a": [1, "x"]})
    assert not _same({"a": 1.0}, {"a": 1}) and not _same({"a": True}, {"a": 1})
    assert _same("x", "x") and _same(1, 1) and not _same(1.0, 1) and not _same(True, 1)
    assert not _same(float("nan"), float("nan"))
    assert not _same({"a": OrderedDict(b=1)}, {"a": OrderedDict(b=1)})  # not plain data
    # a patch's result holds the stored object's own parts where it left them alone
    kept = {"deep": [{"x": 1}]}
    assert _same(kept, kept) and _same({"k": kept, "n": 1}, {"k": kept, "n": 1})
    assert not _same({"k": kept, "n": 1.0}, {"k": kept, "n": 1})
    assert not _same([kept, True], [kept, 1])


def test_a_nodeconfigs_config_is_checked_only_where_it_changes() -> None:
    from k3os.apiserver.customresources import _node_config_errors

    def nc(config: Any) -> dict[str, Any]:
        return {"metadata": {"name": "n"}, "spec": {} if config is None else {"config": config}}

    bad = {"k3os": {"sysctl": "x"}}
    assert _node_config_errors(nc(None), None) == []
    assert _node_config_errors(nc({"hostname": "a"}), None) == []
    assert _node_config_errors(nc(bad), nc(bad)) == []  # stored as it is: not judged again
    [error] = _node_config_errors(nc(bad), nc({}))
    assert str(error) == "spec.config.k3os.sysctl: Invalid value: expected a mapping"
    [error] = _node_config_errors(nc(["a list"]), None)
    assert error.field == "spec.config" and error.type == "FieldValueTypeInvalid"
    [error] = _node_config_errors(nc({"k3os": {"k3s_args+": 5, "colour": 1}}), None)
    assert error.field == "spec.config.k3os.colour"


def test_a_plans_spec_is_checked_by_its_model_only_where_it_changes() -> None:
    from k3os.apiserver.customresources import _plan_errors

    def plan(**spec: Any) -> dict[str, Any]:
        return {"metadata": {"name": "p"}, "spec": {"upgrade": {"image": "i"}, **spec}}

    window = {"days": ["mon", "funday"], "startTime": "25:00"}
    bad = plan(version="v1", window=window)
    assert _plan_errors(plan(version="v1"), None) == []
    assert _plan_errors(bad, bad) == []  # stored as it is: not judged again
    days, start = _plan_errors(bad, plan(version="v1"))
    assert days.field == "spec.window.days" and "funday" in days.detail
    assert str(start).startswith('spec.window.startTime: Invalid value: "25:00": expected a time')
    [neither] = _plan_errors(plan(), None)  # a rule about the whole spec: no value shown
    assert str(neither) == "spec: Invalid value: set spec.version or spec.channel"
    [toleration] = _plan_errors(plan(version="v1", tolerations=[{"operator": "Odd"}]), None)
    assert toleration.field == "spec.tolerations[0].operator"
