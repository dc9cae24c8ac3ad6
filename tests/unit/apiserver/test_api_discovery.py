"""Discovery, OpenAPI, health and version, and the authentication/authorization gate."""

from __future__ import annotations

from pathlib import Path

import httpx

from k3os.apiserver.app import build_app
from k3os.apiserver.context import ApiContext
from k3os.apiserver.registry import Registry
from k3os.security.authn import Credentials, UserInfo
from k3os.security.authz import Attributes, Decision, Verdict
from k3os.security.pki import KeyPair
from k3os.store import open_store
from tests.unit.apiserver._api import api_server

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


async def test_legacy_discovery() -> None:
    async with api_server() as api:
        versions = (await api.http.get("/api")).json()
        assert versions["kind"] == "APIVersions" and versions["versions"] == ["v1"]
        groups = (await api.http.get("/apis")).json()
        names = [g["name"] for g in groups["groups"]]
        assert "rbac.authorization.k8s.io" in names and "" not in names
        core = (await api.http.get("/api/v1")).json()
        by_name = {r["name"]: r for r in core["resources"]}
        assert by_name["pods"]["shortNames"] == ["po"] and by_name["pods"]["categories"] == ["all"]
        assert by_name["pods/eviction"]["group"] == "policy"
        assert by_name["nodes"]["namespaced"] is False
        policy = (await api.http.get("/apis/policy")).json()
        assert policy["preferredVersion"]["groupVersion"] == "policy/v1"
        gv = (await api.http.get("/apis/policy/v1")).json()
        assert gv["resources"][0]["kind"] == "PodDisruptionBudget"
        assert (await api.http.get("/apis/nosuch")).status_code == 404
        assert (await api.http.get("/apis/nosuch/v1")).status_code == 404
        assert (await api.http.get("/nowhere")).json()["reason"] == "NotFound"


async def test_aggregated_discovery() -> None:
    async with api_server() as api:
        core = await api.http.get("/api", headers={"accept": AGGREGATED + ",application/json"})
        assert core.headers["content-type"] == AGGREGATED
        items = core.json()["items"]
        assert [i["metadata"]["name"] for i in items] == [""]
        pods = next(r for r in items[0]["versions"][0]["resources"] if r["resource"] == "pods")
        assert pods["scope"] == "Namespaced"
        assert {s["subresource"] for s in pods["subresources"]} == {"status", "eviction"}
        beta = await api.http.get(
            "/apis",
            headers={"accept": AGGREGATED.replace("v=v2", "v=v2beta1")},
        )
        assert beta.json()["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
        assert "" not in [i["metadata"]["name"] for i in beta.json()["items"]]


async def test_openapi_documents() -> None:
    async with api_server() as api:
        index = (await api.http.get("/openapi/v3")).json()["paths"]
        url = index["api/v1"]["serverRelativeURL"]
        doc = await api.http.get(url)
        etag = doc.headers["etag"]
        body = doc.json()
        patch = body["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
        assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
        assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1",
                                                           "kind": "Pod"}  # fmt: skip
        schemas = body["components"]["schemas"]
        port = schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"]
        assert port["x-kubernetes-patch-merge-key"] == "containerPort"
        cached = await api.http.get(url, headers={"if-none-match": etag})
        assert cached.status_code == 304
        assert (await api.http.get("/openapi/v3/apis/nosuch/v1")).status_code == 404
        v2 = await api.http.get("/openapi/v2")
        assert v2.json()["swagger"] == "2.0"
        assert "io.k8s.api.core.v1.Pod" in v2.json()["definitions"]
        pb = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        proto = await api.http.get("/openapi/v2", headers={"accept": pb})
        assert proto.headers["content-type"] == "application/octet-stream"
        assert b"io.k8s.api.core.v1.Pod" in proto.content and b"x-kubernetes-patch" in proto.content
        again = await api.http.get(
            "/openapi/v2", headers={"accept": pb, "if-none-match": proto.headers["etag"]}
        )
        assert again.status_code == 304
        other = await api.http.get("/openapi/v2", headers={"accept": "application/xml"})
        assert other.status_code == 406


async def test_health_and_version() -> None:
    async with api_server() as api:
        assert (await api.http.get("/healthz")).text == "ok"
        assert (await api.http.get("/livez")).status_code == 200
        assert (await api.http.get("/readyz")).status_code == 200
        api.ctx.ready.clear()
        assert (await api.http.get("/readyz")).status_code == 500
        version = (await api.http.get("/version")).json()
        assert (version["major"], version["minor"]) == ("1", "36")


class _Nobody:
    def authenticate(self, creds: Credentials) -> UserInfo | None:
        return None


class _Viewer:
    def authenticate(self, creds: Credentials) -> UserInfo | None:
        return UserInfo("viewer", "", ("system:authenticated",))


async def _client(authenticator: object) -> tuple[httpx.AsyncClient, ApiContext]:
    store = await open_store("memory://")
    ctx = ApiContext(store, registry=Registry(), authenticator=authenticator)  # type: ignore[arg-type]
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(ctx)), base_url="http://a")
    return http, ctx


async def test_unauthenticated_and_forbidden() -> None:
    http, ctx = await _client(_Nobody())
    async with http:
        denied = await http.get("/api/v1/namespaces")
        assert denied.status_code == 401 and denied.json()["reason"] == "Unauthorized"
        assert (await http.get("/healthz")).status_code == 200
    await ctx.store.close()
    http, ctx = await _client(_Viewer())
    async with http:
        forbidden = await http.get("/api/v1/namespaces/default/pods")
        assert forbidden.status_code == 403
        assert 'User "viewer" cannot list resource "pods"' in forbidden.json()["message"]
    await ctx.store.close()


class _Boom:
    def authorize(self, attrs: Attributes) -> Decision:
        if attrs.resource == "pods":
            raise RuntimeError("broken authorizer")
        return Decision(Verdict.ALLOW)


async def test_unexpected_errors_are_internal_error_statuses() -> None:
    store = await open_store("memory://")
    ctx = ApiContext(store, authorizer=_Boom())
    transport = httpx.ASGITransport(app=build_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://a") as http:
        resp = await http.get("/api/v1/pods")
        assert resp.status_code == 500 and resp.json()["reason"] == "InternalError"
    await store.close()


class _Counting:
    def __init__(self, accept: bytes = b"good") -> None:
        self.calls = 0
        self.accept = accept

    def authenticate(self, creds: Credentials) -> UserInfo | None:
        self.calls += 1
        if creds.client_certificate in (self.accept, b"other") or creds.bearer_token == "t":
            return UserInfo("u", "", ("system:masters",))
        return None


def test_recent_certificates_are_not_checked_again() -> None:
    from k3os.apiserver.auth import RecentCertificates

    now = [0.0]
    cache = RecentCertificates(ttl=10, size=1, clock=lambda: now[0])
    authn = _Counting()
    good = Credentials("/api", b"good", None)
    assert cache.authenticate(authn, good) is not None
    assert cache.authenticate(authn, good) is not None
    assert authn.calls == 1
    now[0] = 11.0  # expired: asked again
    cache.authenticate(authn, good)
    assert authn.calls == 2
    bad = Credentials("/api", b"bad", None)
    assert cache.authenticate(authn, bad) is None
    assert cache.authenticate(authn, bad) is None
    assert authn.calls == 4  # refusals are never remembered
    token = Credentials("/api", b"good", "t")
    cache.authenticate(authn, token)
    cache.authenticate(authn, token)
    assert authn.calls == 6  # tokens may depend on the path: never remembered
    other = Credentials("/api", b"other", None)
    cache.authenticate(authn, other)  # evicts "good" (size 1)
    cache.authenticate(authn, good)
    assert authn.calls == 8


def test_a_remembered_certificate_is_not_used_past_its_expiry(tmp_path: Path) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives import serialization

    from k3os.apiserver.auth import RecentCertificates
    from k3os.security.pki import issue, make_ca

    ca_cert, ca_key = make_ca("ca")
    ca = KeyPair(ca_cert, ca_key, tmp_path / "ca.crt", tmp_path / "ca.key")
    cert, _ = issue(ca, "n1", client=True, lifetime=dt.timedelta(minutes=10))
    der = cert.public_bytes(serialization.Encoding.DER)
    ends = cert.not_valid_after_utc.timestamp()
    wall = [ends - 30]
    cache = RecentCertificates(ttl=60, clock=lambda: 0.0, wall=lambda: wall[0])
    authn = _Counting(accept=der)
    creds = Credentials("/api", der, None)
    assert cache.authenticate(authn, creds) is not None
    assert cache.authenticate(authn, creds) is not None
    assert authn.calls == 1  # within the ttl and the certificate's life: remembered
    wall[0] = ends + 1  # the ttl has not run out, the certificate has: checked again
    cache.authenticate(authn, creds)
    assert authn.calls == 2
