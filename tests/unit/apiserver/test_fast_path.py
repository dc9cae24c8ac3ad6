"""Resource requests go around Starlette's router straight to their endpoint; everything
else (and any path an extra route claims) still goes through the router."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from k3os.apiserver.app import _ResourceFastPath, build_app
from k3os.apiserver.context import ApiContext
from k3os.apiserver.server import seed
from k3os.store import open_store

from ._api import cm


async def _claimed(request: Request) -> Response:
    return JSONResponse({"claimed": dict(request.path_params)})


@pytest.fixture
async def app() -> Any:
    store = await open_store("memory://")
    ctx = ApiContext(store)
    await seed(ctx)
    ctx.ready.set()
    extra = [
        ("/api/v1/namespaces/{namespace}/claimed/{name}", _claimed, ["GET"]),
        ("/apis/x.example/v1/namespaces/{namespace}/also/{name}", _claimed, ["GET"]),
    ]  # the same parameter names twice: the fast path's one pattern for them all still works
    yield build_app(ctx, extra_routes=extra)
    await store.close()


def test_matching() -> None:
    fast = _ResourceFastPath(None, "core", "group", [])  # type: ignore[arg-type]
    assert fast.match("/api/v1/namespaces/a/pods/p") == ("core", {"rest": "namespaces/a/pods/p"})
    assert fast.match("/apis/apps/v1/deployments") == (
        "group",
        {"group": "apps", "version": "v1", "rest": "deployments"},
    )
    for path in ("/api/v1", "/api/v1/", "/apis/apps", "/apis/apps/v1", "/apis/apps/v1/",
                 "/apis//v1/x", "/healthz", "/api/v2/pods", "/openapi/v3/apis"):  # fmt: skip
        assert fast.match(path) is None, path


async def test_resource_requests_are_served_the_rest_routed(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        made = await http.post("/api/v1/namespaces/default/configmaps", json=cm("c", k="v"))
        assert made.status_code == 201, made.text
        got = await http.get("/api/v1/namespaces/default/configmaps/c")
        assert got.json()["data"] == {"k": "v"}
        patched = await http.patch(
            "/api/v1/namespaces/default/configmaps/c",
            json={"data": {"k": "w"}},
            headers={"content-type": "application/merge-patch+json"},
        )
        assert patched.json()["data"] == {"k": "w"}
        listed = await http.get("/apis/rbac.authorization.k8s.io/v1/clusterroles")
        assert listed.status_code == 200 and listed.json()["kind"] == "ClusterRoleList"
        missing = await http.get("/api/v1/namespaces/default/configmaps/nope")
        assert missing.status_code == 404 and missing.json()["kind"] == "Status"
        # Not resources: the router, as before.
        assert (await http.get("/api/v1")).json()["kind"] == "APIResourceList"
        assert (await http.get("/apis/coordination.k8s.io/v1")).json()["kind"] == "APIResourceList"
        nowhere = await http.get("/nowhere")
        assert nowhere.status_code == 404 and nowhere.json()["kind"] == "Status"
        # A path an extra route claims is the extra route's, even under /api/v1/.
        claimed = await http.get("/api/v1/namespaces/default/claimed/x")
        assert claimed.json() == {"claimed": {"namespace": "default", "name": "x"}}
        also = await http.get("/apis/x.example/v1/namespaces/n/also/y")
        assert also.json() == {"claimed": {"namespace": "n", "name": "y"}}
        # Methods the fast path does not take go to the router (405 from the route).
        options = await http.request("OPTIONS", "/api/v1/namespaces/default/configmaps/c")
        assert options.status_code == 405
