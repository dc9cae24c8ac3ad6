"""The security room inside the API app, in-process: the gate's open paths, the mirrors
behind RBAC and the Node authorizer, the join endpoint's edges, and TokenRequest."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization

from k3os.apiserver.app import build_app
from k3os.apiserver.auth import PEER_CERT_STATE_KEY
from k3os.apiserver.context import ApiContext
from k3os.apiserver.errors import AlreadyExists
from k3os.apiserver.mirror import StoreMirror
from k3os.apiserver.rbac_source import ensure_bootstrap_policy
from k3os.apiserver.security_runtime import ApiSecurity, judge_certificate_time_in_app
from k3os.apiserver.server import seed
from k3os.apiserver.tokenrequest import decode_token_request_protobuf
from k3os.security.bootstrap import ServerPKI, ensure_server_pki
from k3os.security.join import make_node_csr, node_password_secret
from k3os.security.pki import issue
from k3os.store import open_store

NOW = dt.datetime.now(dt.UTC)
Scope = dict[str, Any]
App = Callable[[Scope, Any, Any], Awaitable[None]]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ServerPKI:
    return ensure_server_pki(Path(tmp_path_factory.mktemp("data")))


def with_peer_cert(app: App) -> App:
    """Stand-in for the TLS protocol: the test's `x-peer` header (base64 DER) becomes the
    verified peer certificate the real server would put in the scope."""

    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            peer = dict(scope["headers"]).get(b"x-peer")
            der = base64.b64decode(peer) if peer else None
            scope["state"] = {**scope.get("state", {}), PEER_CERT_STATE_KEY: der}
        await app(scope, receive, send)

    return wrapped


def cert_header(pki: ServerPKI, user: str, groups: list[str]) -> dict[str, str]:
    cert, _ = issue(pki.ca, user, organizations=groups, client=True)
    return {"x-peer": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()}


class Harness:
    def __init__(self, http: httpx.AsyncClient, ctx: ApiContext, security: ApiSecurity) -> None:
        self.http, self.ctx, self.security = http, ctx, security


async def _harness(pki: ServerPKI, **options: Any) -> AsyncIterator[Harness]:
    store = await open_store("memory://")
    ctx = ApiContext(store)
    security = ApiSecurity(ctx, pki, **options)
    app = build_app(ctx, extra_routes=security.routes())
    await seed(ctx)
    await security.start()
    transport = httpx.ASGITransport(app=with_peer_cert(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        try:
            yield Harness(http, ctx, security)
        finally:
            await security.stop()
            await store.close()


@pytest.fixture
async def api(pki: ServerPKI) -> AsyncIterator[Harness]:
    async for harness in _harness(pki):
        yield harness


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


async def test_open_paths_and_401(api: Harness, pki: ServerPKI) -> None:
    assert (await api.http.get("/api/v1/nodes")).status_code == 401
    assert (await api.http.get("/healthz")).status_code == 200
    ca = await api.http.get("/cacerts")
    assert ca.status_code == 200 and ca.content == pki.ca.cert_pem
    # credentials do not matter on open paths
    viewer = cert_header(pki, "vic", [])
    assert (await api.http.get("/cacerts", headers=viewer)).status_code == 200


async def test_health_needs_credentials_when_anonymous_health_is_off(pki: ServerPKI) -> None:
    async for api in _harness(pki, anonymous_health=False):
        assert (await api.http.get("/healthz")).status_code == 401
        assert (await api.http.get("/cacerts")).status_code == 200
        someone = cert_header(pki, "someone", [])
        assert (await api.http.get("/healthz", headers=someone)).status_code == 200
        assert (await api.http.get("/version", headers=someone)).status_code == 200


async def test_rbac_follows_the_store_and_bootstrap_keeps_edits(
    api: Harness, pki: ServerPKI
) -> None:
    admin = cert_header(pki, "root", ["system:masters"])
    vic = cert_header(pki, "vic", [])
    path = "/api/v1/namespaces/default/configmaps"
    assert (await api.http.get(path, headers=vic)).status_code == 403
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "vic"}, "roleRef": {"kind": "ClusterRole", "name": "view",
                                                 "apiGroup": "rbac.authorization.k8s.io"},
        "subjects": [{"kind": "User", "name": "vic", "apiGroup": "rbac.authorization.k8s.io"}],
    }  # fmt: skip
    crbs = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    assert (await api.http.post(crbs, json=binding, headers=admin)).status_code == 201

    async def allowed() -> bool:
        return (await api.http.get(path, headers=vic)).status_code == 200

    await until(allowed)
    assert (await api.http.delete(f"{crbs}/vic", headers=admin)).status_code == 200

    async def denied() -> bool:
        return (await api.http.get(path, headers=vic)).status_code == 403

    await until(denied)
    # an operator's edit of a bootstrap role survives the next start
    view = "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:basic-user"
    patch = {"metadata": {"labels": {"edited": "yes"}}}
    merge = {**admin, "content-type": "application/merge-patch+json"}
    assert (await api.http.patch(view, json=patch, headers=merge)).status_code == 200
    assert await ensure_bootstrap_policy(api.ctx) == 0
    kept = await api.http.get(view, headers=admin)
    assert kept.json()["metadata"]["labels"]["edited"] == "yes"


async def test_mirror_relists_after_compaction(pki: ServerPKI) -> None:
    store = await open_store("memory://")
    ctx = ApiContext(store)
    await seed(ctx)
    rt = ctx.registry.lookup("", "v1", "namespaces")
    assert rt is not None
    seen: list[str] = []
    mirror = StoreMirror(ctx.objects, rt, on_delete=lambda ns, name: seen.append(name))
    task = asyncio.create_task(mirror.run())
    await mirror.synced.wait()
    assert mirror.get("", "default") is not None
    assert {o["metadata"]["name"] for o in mirror.all()} >= {"default", "kube-system"}
    await store.compact(await store.current_revision())
    # delete straight in the store: the mirror hears it through its watch
    await store.delete(rt.key("", "kube-public"))

    async def gone() -> bool:
        return mirror.get("", "kube-public") is None

    await until(gone)
    assert "kube-public" in seen
    task.cancel()
    await store.close()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_mirror_ends_when_the_store_closes(pki: ServerPKI) -> None:
    store = await open_store("memory://")
    ctx = ApiContext(store)
    rt = ctx.registry.lookup("", "v1", "pods")
    assert rt is not None
    mirror = StoreMirror(ctx.objects, rt)
    task = asyncio.create_task(mirror.run())
    await mirror.synced.wait()
    await store.close()
    await asyncio.wait_for(task, 5)
    assert list(mirror.in_namespace("default")) == []


async def test_start_fails_when_a_mirror_dies_before_syncing(
    pki: ServerPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await open_store("memory://")
    ctx = ApiContext(store)
    security = ApiSecurity(ctx, pki)

    async def broken() -> None:
        raise ValueError("cannot list")

    monkeypatch.setattr(security.pods, "run", broken)
    with pytest.raises(ValueError, match="cannot list"):
        await security.start()
    await security.stop()
    await store.close()


async def test_join_endpoint_edges(
    api: Harness, pki: ServerPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "/v1-k3os/node-certificate"
    bearer = {"authorization": f"Bearer {pki.token}"}
    assert (await api.http.post(url, content=b"{not json", headers=bearer)).status_code == 400
    assert (await api.http.post(url, json=[1], headers=bearer)).status_code == 400
    body = {"nodeName": "n1", "csr": make_node_csr("n1")[1], "nodePassword": "p" * 16}
    assert (await api.http.post(url, json=body)).status_code == 401
    vic = cert_header(pki, "vic", [])
    assert (await api.http.post(url, json=body, headers=vic)).status_code == 403
    # another box takes the name between our read and our create: its password wins
    real_create = api.ctx.objects.create

    async def racing_create(rt: Any, obj: dict[str, Any]) -> dict[str, Any]:
        if rt.plural == "secrets":
            theirs = node_password_secret("n1", "q" * 16)
            theirs["metadata"]["uid"] = "x"
            await real_create(rt, theirs)
            raise AlreadyExists("secrets", obj["metadata"]["name"])
        return await real_create(rt, obj)

    monkeypatch.setattr(api.ctx.objects, "create", racing_create)
    raced = await api.http.post(url, json=body, headers=bearer)
    assert raced.status_code == 403 and "already claimed" in raced.json()["message"]


async def test_token_request_options(api: Harness, pki: ServerPKI) -> None:
    admin = cert_header(pki, "root", ["system:masters"])
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"}}
    assert (await api.http.post("/api/v1/namespaces/default/serviceaccounts", json=sa,
                                headers=admin)).status_code == 201  # fmt: skip
    url = "/api/v1/namespaces/default/serviceaccounts/bot/token"
    plain = await api.http.post(url, headers=admin)
    assert plain.status_code == 201 and plain.json()["spec"]["expirationSeconds"] == 3600
    bound = {"spec": {"expirationSeconds": 10**9, "boundObjectRef": {"kind": "Pod", "name": "p",
                                                                        "uid": "u"}}}  # fmt: skip
    answer = await api.http.post(url, json=bound, headers=admin)
    assert answer.status_code == 201
    assert answer.json()["spec"]["expirationSeconds"] == 365 * 24 * 3600
    token = {"authorization": f"Bearer {answer.json()['status']['token']}"}
    assert (await api.http.get("/api/v1/nodes", headers=token)).status_code == 403
    wrong = {"spec": {"expirationSeconds": "soon"}}
    assert (await api.http.post(url, json=wrong, headers=admin)).status_code == 400
    assert (await api.http.post(url, json=[1], headers=admin)).status_code == 400
    sa_url = "/api/v1/namespaces/default/serviceaccounts/bot"
    assert (await api.http.delete(sa_url, headers=admin)).status_code == 200

    async def refused() -> bool:
        return (await api.http.get("/api/v1/nodes", headers=token)).status_code == 401

    await until(refused)


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_token_request_protobuf() -> None:
    ref = _field(1, b"Pod") + _field(3, b"p") + _field(4, b"u")
    spec = _field(1, b"aud-1") + _field(1, b"aud-2") + bytes([4 << 3, 0x90, 0x1C]) + _field(3, ref)
    message = _field(1, b"") + _field(2, spec)
    unknown = _field(1, _field(1, b"authentication.k8s.io/v1") + _field(2, b"TokenRequest"))
    body = b"k8s\x00" + unknown + _field(2, message)
    decoded = decode_token_request_protobuf(body)
    assert decoded["spec"] == {
        "audiences": ["aud-1", "aud-2"],
        "expirationSeconds": 3600,
        "boundObjectRef": {"kind": "Pod", "name": "p", "uid": "u"},
    }
    with pytest.raises(Exception, match="envelope"):
        decode_token_request_protobuf(b"{}")


def test_client_certificate_time_is_judged_by_the_app(pki: ServerPKI) -> None:
    config = uvicorn.Config(
        lambda *a: None,
        ssl_certfile=str(pki.serving.cert_path),
        ssl_keyfile=str(pki.serving.key_path),
        ssl_ca_certs=str(pki.ca.cert_path),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        log_config=None,
    )
    judge_certificate_time_in_app(config)
    assert config.ssl is not None and config.ssl.verify_flags & 0x200000
