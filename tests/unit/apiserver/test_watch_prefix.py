"""A watch of one name follows that object's key only; the selector still decides."""

from __future__ import annotations

import pytest

from k3os.apiserver.registry import Registry
from k3os.apiserver.request import ApiRequest
from k3os.apiserver.watch import watch_prefix
from tests.unit.apiserver._api import api_server, cm

CMS = "/api/v1/namespaces/default/configmaps"


@pytest.mark.parametrize(
    ("plural", "namespace", "name", "selector", "prefix"),
    [
        ("nodes", "", "", "metadata.name=n1", "/registry/nodes/n1"),
        ("nodes", "", "", "metadata.name==n1,spec.unschedulable=true", "/registry/nodes/n1"),
        ("nodes", "", "n1", "", "/registry/nodes/n1"),
        ("nodes", "", "n1", "metadata.name=n1", "/registry/nodes/n1"),
        ("nodes", "", "n1", "metadata.name=n2", "/registry/nodes/"),
        ("nodes", "", "", "metadata.name!=n1", "/registry/nodes/"),
        ("nodes", "", "", "metadata.name=a\\,b", "/registry/nodes/"),
        ("nodes", "", "", "", "/registry/nodes/"),
        ("configmaps", "default", "", "metadata.name=c", "/registry/configmaps/default/c"),
        ("configmaps", "", "", "metadata.name=c", "/registry/configmaps/"),
    ],
)
def test_watch_prefix(plural: str, namespace: str, name: str, selector: str, prefix: str) -> None:
    rt = Registry().lookup("", "v1", plural)
    assert rt is not None
    query = {"fieldSelector": selector} if selector else {}
    req = ApiRequest(rt, namespace, name, "", query)
    assert watch_prefix(req).replace("/minions/", "/nodes/") == prefix.replace(
        "/minions/", "/nodes/"
    )


async def test_a_watch_of_one_name_ignores_a_longer_name_sharing_its_prefix() -> None:
    async with api_server() as api:
        start = (await api.http.get(CMS)).json()["metadata"]["resourceVersion"]
        await api.create(CMS, cm("w10"))
        await api.create(CMS, cm("w1"))
        await api.create(CMS, cm("x"))
        events = await api.lines(
            CMS, resourceVersion=start, fieldSelector="metadata.name=w1", timeoutSeconds="1"
        )
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "w1")]
