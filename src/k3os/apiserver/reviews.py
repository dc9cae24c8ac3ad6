"""Access and identity reviews: asking the API server what it would allow, and who it
thinks the caller is, without doing anything.

- `SelfSubjectAccessReview` (`kubectl auth can-i VERB RESOURCE`): may I do this?
- `SubjectAccessReview` (cluster-scoped) and `LocalSubjectAccessReview` (namespaced): may
  this user or these groups do it? Asking about others needs `create` on these resources.
- `SelfSubjectRulesReview` (`kubectl auth can-i --list`): what may I do in a namespace, as
  RBAC rules; `incomplete` for a node, whose rights follow its pods, not rules.
- `SelfSubjectReview` (`kubectl auth whoami`): my name, uid, groups and extra.

Each is a create that stores nothing and answers 201 with the review and its `status`, as
kube-apiserver does. The answer comes from the same authorizers that guard every request
(the Node authorizer, then RBAC), so it is what the caller would meet. Bodies are JSON or
YAML, or protobuf as client-go sends them (`kubectl auth can-i`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from k3os.apiserver.context import ApiContext
from k3os.apiserver.errors import BadRequest, FieldError, Invalid
from k3os.apiserver.identity import current_attributes
from k3os.apiserver.negotiation import decode_body, encode, parse_accept, parse_media_type
from k3os.apiserver.protobuf import PROTOBUF, _fields, envelope_spec
from k3os.security.authn import UserInfo
from k3os.security.authz import Attributes, rules_for

__all__ = ["Reviews"]

Obj = dict[str, Any]
AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"
SELF_ACCESS_PATH = f"/apis/{AUTHZ}/v1/selfsubjectaccessreviews"
ACCESS_PATH = f"/apis/{AUTHZ}/v1/subjectaccessreviews"
LOCAL_ACCESS_PATH = f"/apis/{AUTHZ}/v1/namespaces/{{namespace}}/localsubjectaccessreviews"
SELF_RULES_PATH = f"/apis/{AUTHZ}/v1/selfsubjectrulesreviews"
SELF_SUBJECT_PATH = f"/apis/{AUTHN}/v1/selfsubjectreviews"
_ADMIN = UserInfo("system:admin", "", ("system:masters",))


class Reviews:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return [
            (SELF_ACCESS_PATH, self.self_access, ["POST"]),
            (ACCESS_PATH, self.access, ["POST"]),
            (LOCAL_ACCESS_PATH, self.local_access, ["POST"]),
            (SELF_RULES_PATH, self.self_rules, ["POST"]),
            (SELF_SUBJECT_PATH, self.self_subject, ["POST"]),
        ]

    async def self_access(self, request: Request) -> Response:
        review = await _body(request, "SelfSubjectAccessReview", AUTHZ)
        spec = _spec(review)
        attrs = _attributes(review, spec, _caller(), "")
        return _answer(request, review, self._decide(attrs))

    async def access(self, request: Request) -> Response:
        review = await _body(request, "SubjectAccessReview", AUTHZ)
        spec = _spec(review)
        attrs = _attributes(review, spec, _subject(review, spec), "")
        return _answer(request, review, self._decide(attrs))

    async def local_access(self, request: Request) -> Response:
        namespace = request.path_params["namespace"]
        review = await _body(request, "LocalSubjectAccessReview", AUTHZ)
        spec = _spec(review)
        attrs = _attributes(review, spec, _subject(review, spec), namespace)
        return _answer(request, review, self._decide(attrs))

    async def self_rules(self, request: Request) -> Response:
        review = await _body(request, "SelfSubjectRulesReview", AUTHZ)
        spec = review.get("spec")
        namespace = str(spec.get("namespace") or "") if isinstance(spec, dict) else ""
        answer = rules_for(self.ctx.authorizer, _caller(), namespace)
        status: Obj = {"resourceRules": [], "nonResourceRules": [], "incomplete": answer.incomplete}
        for rule in answer.rules:
            if rule.get("nonResourceURLs"):
                status["nonResourceRules"].append(
                    {
                        "verbs": list(rule.get("verbs") or []),
                        "nonResourceURLs": list(rule["nonResourceURLs"]),
                    }
                )
            if rule.get("resources"):
                kept = {k: list(rule.get(k) or []) for k in ("verbs", "apiGroups", "resources")}
                if rule.get("resourceNames"):
                    kept["resourceNames"] = list(rule["resourceNames"])
                status["resourceRules"].append(kept)
        if answer.error:
            status["evaluationError"] = answer.error
        return _answer(request, review, status)

    async def self_subject(self, request: Request) -> Response:
        review = await _body(request, "SelfSubjectReview", AUTHN)
        user = _caller()
        info: Obj = {"username": user.name, "groups": list(user.groups)}
        if user.uid:
            info["uid"] = user.uid
        if user.extra:
            info["extra"] = {k: list(v) for k, v in user.extra.items()}
        return _answer(request, review, {"userInfo": info})

    def _decide(self, attrs: Attributes) -> Obj:
        decision = self.ctx.authorizer.authorize(attrs)
        status: Obj = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        return status


def _caller() -> UserInfo:
    attrs = current_attributes()
    return attrs.user if attrs is not None else _ADMIN  # no authentication: everyone is admin


async def _body(request: Request, kind: str, group: str) -> Obj:
    raw = await request.body()
    content_type = request.headers.get("content-type") or ""
    if parse_media_type(content_type).type == PROTOBUF:
        body: Any = _decode_protobuf(raw, kind)
    else:
        body, _ = decode_body(raw, content_type)
    if not isinstance(body, dict):
        raise BadRequest(f"a {kind} must be an object")
    if body.get("kind") not in (None, "", kind):
        raise BadRequest(f'Object kind "{body.get("kind")}" does not match the kind "{kind}"')
    if body.get("apiVersion") not in (None, "", f"{group}/v1"):
        raise BadRequest(
            f"the API version in the data ({body.get('apiVersion')}) is not {group}/v1"
        )
    return {**body, "apiVersion": f"{group}/v1", "kind": kind}


def _spec(review: Obj) -> Obj:
    spec = review.get("spec")
    if not isinstance(spec, dict):
        raise _invalid(review, [FieldError.required("spec")])
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (resource is None) == (non_resource is None):
        raise _invalid(
            review,
            [
                FieldError.invalid(
                    "spec.resourceAttributes",
                    resource,
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                )
            ],
        )
    for name, value in (("resourceAttributes", resource), ("nonResourceAttributes", non_resource)):
        if value is not None and not isinstance(value, dict):
            raise _invalid(review, [FieldError.type_invalid(f"spec.{name}", value, "an object")])
    return spec


def _subject(review: Obj, spec: Obj) -> UserInfo:
    """The user a (Local)SubjectAccessReview asks about."""
    user, groups = spec.get("user") or "", spec.get("groups") or []
    if not user and not groups:
        raise _invalid(
            review,
            [FieldError.required("spec.user", "at least one of user or group must be specified")],
        )
    if not isinstance(user, str) or not isinstance(groups, list):
        raise _invalid(
            review, [FieldError.type_invalid("spec", spec, "user: string, groups: list")]
        )
    extra = spec.get("extra") or {}
    return UserInfo(
        user,
        str(spec.get("uid") or ""),
        tuple(str(g) for g in groups),
        {str(k): tuple(str(x) for x in v) for k, v in extra.items()}
        if isinstance(extra, Mapping)
        else {},
    )


def _attributes(review: Obj, spec: Obj, user: UserInfo, namespace: str) -> Attributes:
    """The request the review asks about, as the authorizers see one. A local review's
    namespace is its URL's; the attributes may repeat it, not name another."""
    resource = spec.get("resourceAttributes")
    if resource is None:
        non_resource = spec["nonResourceAttributes"]
        return Attributes(
            user=user,
            verb=str(non_resource.get("verb") or ""),
            path=str(non_resource.get("path") or ""),
            is_resource_request=False,
        )
    asked = str(resource.get("namespace") or "")
    if namespace and asked not in ("", namespace):
        raise _invalid(
            review,
            [
                FieldError.invalid(
                    "spec.resourceAttributes.namespace",
                    asked,
                    f"must match metadata.namespace: {namespace}",
                )
            ],
        )
    return Attributes(
        user=user,
        verb=str(resource.get("verb") or ""),
        namespace=namespace or asked,
        api_group=str(resource.get("group") or ""),
        resource=str(resource.get("resource") or ""),
        subresource=str(resource.get("subresource") or ""),
        name=str(resource.get("name") or ""),
    )


def _answer(request: Request, review: Obj, status: Obj) -> Response:
    meta = dict(review.get("metadata") or {})
    meta["creationTimestamp"] = None
    answer = {**review, "metadata": meta, "status": status}
    if "namespace" in request.path_params:
        answer["metadata"]["namespace"] = request.path_params["namespace"]
    raw, media = encode(answer, parse_accept(request.headers.get("accept")))
    return Response(raw, status_code=201, media_type=media)


def _invalid(review: Obj, errors: list[FieldError]) -> Invalid:
    group = str(review.get("apiVersion") or "").partition("/")[0]
    return Invalid(str(review.get("kind")), "", errors, group=group)


# --- protobuf, as client-go sends these bodies ----------------------------------------------

_RESOURCE_FIELDS = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
                    6: "subresource", 7: "name"}  # fmt: skip
_NON_RESOURCE_FIELDS = {1: "path", 2: "verb"}


def _strings(raw: bytes, names: Mapping[int, str]) -> Obj:
    out: Obj = {}
    for number, _, value in _fields(raw):
        if number in names and isinstance(value, bytes | bytearray | memoryview):
            out[names[number]] = bytes(value).decode()
    return out


def _decode_protobuf(raw: bytes, kind: str) -> Obj:
    """The JSON form of a protobuf review (field numbers from upstream's authorization/v1
    and authentication/v1 generated.proto): the attributes and, for a SubjectAccessReview,
    the user, groups and uid asked about."""
    spec_raw = envelope_spec(raw)
    if kind == "SelfSubjectRulesReview":
        return {"spec": _strings(spec_raw, {1: "namespace"})}
    spec: Obj = {}
    for field, _, item in _fields(spec_raw):
        data = bytes(item) if isinstance(item, bytes | bytearray | memoryview) else b""
        if field == 1:
            spec["resourceAttributes"] = _strings(data, _RESOURCE_FIELDS)
        elif field == 2:
            spec["nonResourceAttributes"] = _strings(data, _NON_RESOURCE_FIELDS)
        elif kind != "SelfSubjectAccessReview" and field == 3:
            spec["user"] = data.decode()
        elif kind != "SelfSubjectAccessReview" and field == 4:
            spec.setdefault("groups", []).append(data.decode())
        elif kind != "SelfSubjectAccessReview" and field == 6:
            spec["uid"] = data.decode()
    return {"spec": spec} if kind != "SelfSubjectReview" else {}
