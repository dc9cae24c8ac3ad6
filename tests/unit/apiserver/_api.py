"""An in-process API server on the memory store, driven through httpx's ASGI transport."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from k3os.apiserver.app import build_app
from k3os.apiserver.context import ApiContext, Settings
from k3os.apiserver.server import seed
from k3os.store import Store, open_store

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@dataclass
class Api:
    http: httpx.AsyncClient
    ctx: ApiContext
    store: Store

    async def create(self, path: str, body: dict[str, Any], **params: str) -> httpx.Response:
        return await self.http.post(path, json=body, params=params)

    async def lines(self, path: str, **params: str) -> list[dict[str, Any]]:
        resp = await self.http.get(path, params={"watch": "1", **params})
        assert resp.status_code == 200, resp.text
        return [json.loads(line) for line in resp.text.splitlines() if line]


@asynccontextmanager
async def api_server(**settings: Any) -> AsyncIterator[Api]:
    store = await open_store("memory://")
    ctx = ApiContext(store, clock=lambda: NOW, settings=Settings(**settings))
    await seed(ctx)
    ctx.ready.set()
    transport = httpx.ASGITransport(app=build_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        try:
            yield Api(http, ctx, store)
        finally:
            await store.close()


def cm(name: str, ns: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": dict(data),
    }


def pod(name: str, ns: str = "default", *, node: str = "", labels: dict[str, str] | None = None
        ) -> dict[str, Any]:  # fmt: skip
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "img:1"}]}
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": spec,
    }
