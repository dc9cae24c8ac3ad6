"""A list or watch of one name reads and follows that object's key only; the selector still
decides."""

from __future__ import annotations

import pytest

from k3os.apiserver.reads import selected_prefix
from k3os.apiserver.registry import Registry
from k3os.apiserver.request import ApiRequest
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
    assert selected_prefix(req).replace("/minions/", "/nodes/") == prefix.replace(
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


async def test_a_list_or_streamed_list_of_one_name_reads_its_key_only() -> None:
    """An agent's informer of its own object costs the server a read of one key, not a scan
    of the kind, whether it lists or streams its list (`sendInitialEvents`)."""
    async with api_server() as api:
        for name in ("w1", "w10", "x"):
            await api.create(CMS, cm(name))
        prefixes: list[str] = []
        inner = api.store.range

        async def spy(prefix: str, *args: object, **kw: object) -> object:
            prefixes.append(prefix)
            return await inner(prefix, *args, **kw)  # type: ignore[arg-type]

        api.store.range = spy  # type: ignore[method-assign]
        listed = (await api.http.get(CMS, params={"fieldSelector": "metadata.name=w1"})).json()
        assert [o["metadata"]["name"] for o in listed["items"]] == ["w1"]
        events = await api.lines(
            CMS,
            fieldSelector="metadata.name=w1",
            sendInitialEvents="true",
            resourceVersionMatch="NotOlderThan",
            allowWatchBookmarks="true",
            timeoutSeconds="1",
        )
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events[:1]] == [
            ("ADDED", "w1")
        ]
        end = events[1]["object"]["metadata"]
        assert events[1]["type"] == "BOOKMARK"
        assert end["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert int(end["resourceVersion"]) >= int(listed["metadata"]["resourceVersion"])
        assert prefixes and set(prefixes) == {"/registry/configmaps/default/w1"}, prefixes
        # Without a single name it is the kind's scan, as before.
        prefixes.clear()
        everything = (await api.http.get(CMS)).json()
        assert len(everything["items"]) == 3
        assert set(prefixes) == {"/registry/configmaps/default/"}
