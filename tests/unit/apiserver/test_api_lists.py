"""list: selectors, paging with continue tokens (and their expiry), resourceVersion rules."""

from __future__ import annotations

from tests.unit.apiserver._api import api_server, cm, pod

CMS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"


async def test_label_and_field_selectors() -> None:
    async with api_server() as api:
        await api.create(PODS, pod("a", node="n1", labels={"app": "web", "tier": "front"}))
        await api.create(PODS, pod("b", node="n2", labels={"app": "web"}))
        await api.create(PODS, pod("c", labels={"app": "db"}))

        async def names(**params: str) -> list[str]:
            resp = await api.http.get(PODS, params=params)
            assert resp.status_code == 200, resp.text
            return [p["metadata"]["name"] for p in resp.json()["items"]]

        assert await names(labelSelector="app=web") == ["a", "b"]
        assert await names(labelSelector="app in (db),!tier") == ["c"]
        assert await names(labelSelector="tier") == ["a"]
        assert await names(fieldSelector="spec.nodeName=n2") == ["b"]
        assert await names(fieldSelector="metadata.name!=a,status.phase=Pending") == ["b", "c"]
        everywhere = await api.http.get(
            "/api/v1/pods", params={"fieldSelector": "spec.nodeName=n1"}
        )
        assert [p["metadata"]["name"] for p in everywhere.json()["items"]] == ["a"]
        bad = await api.http.get(PODS, params={"fieldSelector": "spec.image=x"})
        assert bad.status_code == 400 and "field label not supported" in bad.json()["message"]
        assert (await api.http.get(PODS, params={"labelSelector": "a in ("})).status_code == 400


async def test_paging_with_continue_and_expiry() -> None:
    async with api_server() as api:
        for i in range(5):
            await api.create(CMS, cm(f"c{i}"))
        first = (await api.http.get(CMS, params={"limit": "2"})).json()
        assert [c["metadata"]["name"] for c in first["items"]] == ["c0", "c1"]
        assert first["metadata"]["remainingItemCount"] == 3
        token = first["metadata"]["continue"]
        await api.create(CMS, cm("c9"))  # not in the snapshot the pages read
        seen = [c["metadata"]["name"] for c in first["items"]]
        while token:
            page = (await api.http.get(CMS, params={"limit": "2", "continue": token})).json()
            assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
            seen += [c["metadata"]["name"] for c in page["items"]]
            token = page["metadata"].get("continue", "")
        assert seen == [f"c{i}" for i in range(5)]
        # a token whose snapshot was compacted: 410 with a fresh (inconsistent) token
        await api.store.compact(await api.store.current_revision())
        expired = await api.http.get(
            CMS, params={"limit": "2", "continue": first["metadata"]["continue"]}
        )
        assert expired.status_code == 410 and expired.json()["reason"] == "Expired"
        fresh = expired.json()["metadata"]["continue"]
        rest = (await api.http.get(CMS, params={"continue": fresh})).json()
        assert [c["metadata"]["name"] for c in rest["items"]] == ["c2", "c3", "c4", "c9"]
        assert (await api.http.get(CMS, params={"continue": "!!"})).status_code == 400


async def test_paging_with_a_selector_fills_pages() -> None:
    async with api_server() as api:
        for i in range(6):
            body = cm(f"s{i}")
            body["metadata"]["labels"] = {"even": str(i % 2 == 0).lower()}
            await api.create(CMS, body)
        page = (await api.http.get(CMS, params={"limit": "2", "labelSelector": "even=true"})).json()
        assert [c["metadata"]["name"] for c in page["items"]] == ["s0", "s2"]
        last = (
            await api.http.get(
                CMS, params={"limit": "2", "labelSelector": "even=true",
                             "continue": page["metadata"]["continue"]}
            )
        ).json()  # fmt: skip
        assert [c["metadata"]["name"] for c in last["items"]] == ["s4"]
        assert "continue" not in last["metadata"]


async def test_resource_version_rules() -> None:
    async with api_server() as api:
        old = (await api.create(CMS, cm("v", a="1"))).json()
        rv = old["metadata"]["resourceVersion"]
        old["data"] = {"a": "2"}
        await api.http.put(f"{CMS}/v", json=old)
        exact = await api.http.get(
            CMS, params={"resourceVersion": rv, "resourceVersionMatch": "Exact"}
        )
        assert exact.json()["items"][0]["data"] == {"a": "1"}
        assert exact.json()["metadata"]["resourceVersion"] == rv
        newer = await api.http.get(
            CMS, params={"resourceVersion": rv, "resourceVersionMatch": "NotOlderThan"}
        )
        assert newer.json()["items"][0]["data"] == {"a": "2"}
        any_rv = await api.http.get(CMS, params={"resourceVersion": "0"})
        assert any_rv.status_code == 200
        future = await api.http.get(CMS, params={"resourceVersion": "99999"})
        assert future.status_code == 504 and future.headers["retry-after"] == "1"
        assert (
            await api.http.get(f"{CMS}/v", params={"resourceVersion": "99999"})
        ).status_code == 504
        assert (
            await api.http.get(CMS, params={"resourceVersionMatch": "Exact"})
        ).status_code == 400
        assert (await api.http.get(CMS, params={"resourceVersion": "x"})).status_code == 400
        assert (
            await api.http.get(
                CMS, params={"resourceVersion": "0", "resourceVersionMatch": "Exact"}
            )
        ).status_code == 400
        assert (
            await api.http.get(
                CMS, params={"resourceVersion": "1", "resourceVersionMatch": "Sometimes"}
            )
        ).status_code == 400
        assert (await api.http.get(CMS, params={"limit": "-1"})).status_code == 400
        assert (await api.http.get(CMS, params={"limit": "x"})).status_code == 400
        await api.store.compact(await api.store.current_revision())
        compacted = await api.http.get(
            CMS, params={"resourceVersion": rv, "resourceVersionMatch": "Exact"}
        )
        assert compacted.status_code == 410


async def test_table_and_metadata_only_answers() -> None:
    async with api_server() as api:
        await api.create(CMS, cm("t", a="1", b="2"))
        table = await api.http.get(
            CMS, headers={"accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
        )
        body = table.json()
        assert body["kind"] == "Table"
        assert [c["name"] for c in body["columnDefinitions"]][:2] == ["Name", "Data"]
        assert body["rows"][0]["cells"][:2] == ["t", 2]
        assert body["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
        one = await api.http.get(
            f"{CMS}/t", params={"includeObject": "Object"},
            headers={"accept": "application/json;as=Table;v=v1beta1;g=meta.k8s.io"},
        )  # fmt: skip
        assert one.json()["apiVersion"] == "meta.k8s.io/v1beta1"
        assert one.json()["rows"][0]["object"]["data"] == {"a": "1", "b": "2"}
        meta = await api.http.get(
            CMS,
            headers={"accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"},
        )
        assert meta.json()["kind"] == "PartialObjectMetadataList"
        assert "data" not in meta.json()["items"][0]
        single = await api.http.get(
            f"{CMS}/t",
            headers={"accept": "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"},
        )
        assert single.json()["kind"] == "PartialObjectMetadata"
        nodes = await api.http.get(
            "/api/v1/nodes", headers={"accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
        )
        assert [c["name"] for c in nodes.json()["columnDefinitions"]][:5] == [
            "Name", "Status", "Roles", "Age", "Version",
        ]  # fmt: skip
        bad = await api.http.get(
            CMS, headers={"accept": "application/json;as=Table;v=v9;g=meta.k8s.io"}
        )
        assert bad.status_code == 406


async def test_large_lists_are_read_in_chunks_at_one_revision() -> None:
    async with api_server() as api:
        for i in range(1203):
            await api.ctx.objects.create(
                api.ctx.registry.lookup("", "v1", "configmaps"),  # type: ignore[arg-type]
                {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": f"n{i:04d}", "namespace": "default"}},
            )  # fmt: skip
        everything = (await api.http.get(CMS)).json()["items"]
        assert len(everything) == 1203
        page = (await api.http.get(CMS, params={"limit": "1100"})).json()
        assert len(page["items"]) == 1100 and page["metadata"]["remainingItemCount"] == 103
