"""Access and identity reviews on an in-process server without authentication (everyone
is the admin): the answers' shapes and the refusals of malformed reviews."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from k3os.apiserver.app import build_app
from k3os.apiserver.context import ApiContext
from k3os.apiserver.protobuf import MAGIC
from k3os.apiserver.reviews import Reviews, _decode_protobuf
from k3os.store import open_store

pytestmark = pytest.mark.unit

AUTHZ = "/apis/authorization.k8s.io/v1"


async def _post(path: str, body: Any) -> httpx.Response:
    store = await open_store("memory://")
    try:
        ctx = ApiContext(store)
        app = build_app(ctx, extra_routes=Reviews(ctx).routes())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            return await http.post(path, json=body)
    finally:
        await store.close()


def _attrs(**resource: str) -> dict[str, Any]:
    return {"resourceAttributes": {"verb": "get", "resource": "pods", **resource}}


async def test_a_review_is_answered_with_its_status_and_stores_nothing() -> None:
    body = {"kind": "SelfSubjectAccessReview", "spec": _attrs(namespace="default")}
    resp = await _post(f"{AUTHZ}/selfsubjectaccessreviews", body)
    assert resp.status_code == 201
    answer = resp.json()
    assert answer["apiVersion"] == "authorization.k8s.io/v1" and answer["status"]["allowed"]
    assert answer["spec"] == body["spec"] and answer["metadata"]["creationTimestamp"] is None
    who = await _post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {})
    assert who.json()["status"]["userInfo"]["username"] == "system:admin"
    rules = await _post(f"{AUTHZ}/selfsubjectrulesreviews", {"spec": {"namespace": "default"}})
    status = rules.json()["status"]
    assert status["resourceRules"][0]["resources"] == ["*"] and not status["incomplete"]
    local = await _post(
        f"{AUTHZ}/namespaces/team/localsubjectaccessreviews", {"spec": {"user": "jane", **_attrs()}}
    )
    assert local.status_code == 201 and local.json()["metadata"]["namespace"] == "team"
    assert local.json()["status"]["allowed"] is False  # jane has no binding


@pytest.mark.parametrize(
    ("path", "body", "text"),
    [
        ("selfsubjectaccessreviews", {"spec": {}}, "exactly one of nonResourceAttributes"),
        (
            "selfsubjectaccessreviews",
            {"spec": {**_attrs(), "nonResourceAttributes": {"path": "/x", "verb": "get"}}},
            "exactly one of",
        ),
        ("selfsubjectaccessreviews", {"kind": "Pod", "spec": _attrs()}, 'Object kind "Pod"'),
        ("subjectaccessreviews", {"spec": _attrs()}, "at least one of user or group"),
        (
            "namespaces/team/localsubjectaccessreviews",
            {"spec": {"user": "jane", **_attrs(namespace="other")}},
            "must match metadata.namespace: team",
        ),
        ("selfsubjectaccessreviews", [1], "must be an object"),
    ],
)
async def test_a_malformed_review_is_refused_with_why(path: str, body: Any, text: str) -> None:
    resp = await _post(f"{AUTHZ}/{path}", body)
    assert resp.status_code in (400, 422) and text in resp.json()["message"]


def _field(number: int, value: bytes) -> bytes:
    return bytes([number << 3 | 2, len(value)]) + value


def test_protobuf_reviews_as_client_go_sends_them() -> None:
    attrs = _field(1, b"team") + _field(2, b"get") + _field(5, b"pods") + _field(7, b"p")
    spec = _field(1, attrs) + _field(3, b"jane") + _field(4, b"dev") + _field(4, b"ops")
    envelope = _field(2, _field(2, spec))  # runtime.Unknown.raw holding the review
    review = _decode_protobuf(MAGIC + envelope, "SubjectAccessReview")
    assert review["spec"] == {
        "resourceAttributes": {"namespace": "team", "verb": "get", "resource": "pods", "name": "p"},
        "user": "jane",
        "groups": ["dev", "ops"],
    }
    rules = _decode_protobuf(
        MAGIC + _field(2, _field(2, _field(1, b"team"))), "SelfSubjectRulesReview"
    )
    assert rules["spec"] == {"namespace": "team"}
