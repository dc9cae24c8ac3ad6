"""The server's in-process door with the real app and security: requests through it are
the certificate's user under the same authentication and RBAC as over TLS, the transport
alone (or a header) grants nothing, and the door waits for the API and shuts with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from k3os.apiserver.app import build_app
from k3os.apiserver.context import ApiContext
from k3os.apiserver.identity import current_attributes
from k3os.apiserver.inprocess import InProcessEntry, certificate_der
from k3os.apiserver.security_runtime import ApiSecurity
from k3os.apiserver.server import seed
from k3os.client import ApiStatusError, Kube, connect
from k3os.client.inprocess import ASGIApp, InProcessTransport
from k3os.client.resources import CONFIG_MAPS, NAMESPACES
from k3os.security.bootstrap import (
    CONTROLLER_USER,
    ServerPKI,
    ensure_controller_cert,
    ensure_server_pki,
)
from k3os.security.pki import issue
from k3os.store import open_store


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ServerPKI:
    return ensure_server_pki(Path(tmp_path_factory.mktemp("data")))


@pytest.fixture
async def app(pki: ServerPKI) -> AsyncIterator[ASGIApp]:
    store = await open_store("memory://")
    ctx = ApiContext(store)
    security = ApiSecurity(ctx, pki)
    asgi = build_app(ctx, extra_routes=security.routes())
    await seed(ctx)
    await security.start()
    try:
        yield asgi
    finally:
        await security.stop()
        await store.close()


def kube_through(pki: ServerPKI, app: ASGIApp) -> Kube:
    return connect("https://127.0.0.1:6443", ca=pki.ca.cert_path, transport=InProcessTransport(app))


async def test_the_controller_identity_with_its_rbac(pki: ServerPKI, app: ASGIApp) -> None:
    users: list[tuple[str, tuple[str, ...]]] = []

    async def noting_the_user(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)
        attrs = current_attributes()
        assert attrs is not None
        users.append((attrs.user.name, tuple(attrs.user.groups)))

    pair = ensure_controller_cert(pki)
    entry = InProcessEntry(certificate_der(pair.cert_path))
    entry.attach(noting_the_user)
    entry.open()
    async with kube_through(pki, entry) as kube:
        await kube.create(CONFIG_MAPS, {"metadata": {"name": "c"}}, "default")
        assert users[0][0] == CONTROLLER_USER and "system:masters" in users[0][1]
        names = [e.object["metadata"]["name"] async for e in kube.watch(
            CONFIG_MAPS, "default", timeout_seconds=1, bookmarks=False)]  # fmt: skip
        assert names == ["c"]
    # the same door with a certificate of a user without rights: RBAC says no, by name
    cert, _ = issue(pki.ca, "vic", organizations=[], client=True)
    vic = InProcessEntry(cert.public_bytes(serialization.Encoding.DER))
    vic.attach(app)
    vic.open()
    async with kube_through(pki, vic) as kube:
        with pytest.raises(ApiStatusError, match='User "vic" cannot list') as err:
            await kube.list(NAMESPACES)
        assert err.value.code == 403


async def test_the_transport_alone_grants_nothing(pki: ServerPKI, app: ASGIApp) -> None:
    async with kube_through(pki, app) as kube:
        with pytest.raises(ApiStatusError) as err:
            await kube.request(
                "GET", "/api/v1/namespaces", accept="application/json"
            )  # no certificate in the scope: no one
        assert err.value.code == 401


async def test_the_door_waits_for_the_api_and_closes_with_it(pki: ServerPKI, app: ASGIApp) -> None:
    entry = InProcessEntry(certificate_der(ensure_controller_cert(pki).cert_path))
    entry.attach(app)
    async with kube_through(pki, entry) as kube:
        early = asyncio.create_task(kube.list(NAMESPACES))
        await asyncio.sleep(0.01)
        assert not early.done()
        entry.open()
        assert {ns["metadata"]["name"] for ns in (await early).items} >= {"default"}
        entry.close()
        with pytest.raises(ApiStatusError, match="stopping") as err:
            await kube.list(NAMESPACES)
        assert err.value.code == 503
