"""`serviceaccounts/<name>/token` (TokenRequest): mint a ServiceAccount token.

`POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token` with an
`authentication.k8s.io/v1` TokenRequest answers 201 with `status.token` and
`status.expirationTimestamp`, as kube-apiserver does: audiences default to the server's,
`expirationSeconds` to one hour (at least 10 minutes, at most a year), and a
`boundObjectRef` to a Pod binds the token to that pod. The token is signed by the
server's ServiceAccount key (`k3os.security.serviceaccount.TokenSigner`) and carries the
ServiceAccount's uid. Tokens never reach the log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from k3os.apiserver.context import ApiContext
from k3os.apiserver.errors import BadRequest, FieldError, Invalid
from k3os.apiserver.negotiation import decode_body, encode, parse_accept, parse_media_type
from k3os.apiserver.objects import rfc3339
from k3os.apiserver.protobuf import PROTOBUF, _fields, envelope_spec
from k3os.security.serviceaccount import TokenSigner

__all__ = ["TOKEN_PATH", "TokenRequests", "decode_token_request_protobuf"]

TOKEN_PATH = "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
MIN_SECONDS = 600
MAX_SECONDS = 365 * 24 * 3600
DEFAULT_SECONDS = 3600
Obj = dict[str, Any]


class TokenRequests:
    def __init__(
        self,
        ctx: ApiContext,
        signer: TokenSigner,
        audiences: tuple[str, ...],
        seen: Callable[[Obj], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.signer = signer
        self.audiences = audiences
        self._seen = seen  # told the ServiceAccount read here, so its token works at once

    async def create(self, request: Request) -> Response:
        namespace = request.path_params["namespace"]
        name = request.path_params["name"]
        wanted = parse_accept(request.headers.get("accept"))
        raw = await request.body()
        body: Any = {}
        content_type = request.headers.get("content-type") or ""
        if parse_media_type(content_type).type == PROTOBUF:
            body = decode_token_request_protobuf(raw)
        elif raw.strip():
            body, _ = decode_body(raw, content_type)
        if not isinstance(body, dict):
            raise BadRequest("a TokenRequest must be an object")
        sa_type = self.ctx.registry.lookup("", "v1", "serviceaccounts")
        assert sa_type is not None
        sa = await self.ctx.objects.get(sa_type, namespace, name)
        if self._seen is not None:
            self._seen(sa)
        spec = dict(body.get("spec") or {})
        seconds = _expiration(name, spec.get("expirationSeconds"))
        audiences = tuple(spec.get("audiences") or self.audiences)
        pod = _bound_pod(spec.get("boundObjectRef"))
        now = self.ctx.clock()
        token = self.signer.issue(
            namespace,
            name,
            str(sa["metadata"].get("uid", "")),
            audiences=audiences,
            lifetime=dt.timedelta(seconds=seconds),
            pod=pod,
            now=now,
        )
        expires = dt.datetime.fromtimestamp(int(now.timestamp()) + seconds, dt.UTC)
        answer = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": {**spec, "audiences": list(audiences), "expirationSeconds": seconds},
            "status": {"token": token, "expirationTimestamp": rfc3339(expires)},
        }
        raw_out, media = encode(answer, wanted)
        return Response(raw_out, status_code=201, media_type=media)


def _expiration(name: str, value: Any) -> int:
    if value is None:
        return DEFAULT_SECONDS
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest("spec.expirationSeconds must be an integer")
    if value < MIN_SECONDS:
        raise Invalid(
            "TokenRequest",
            name,
            [
                FieldError.invalid(
                    "spec.expirationSeconds",
                    value,
                    "may not specify a duration less than 10 minutes",
                )
            ],
            group="authentication.k8s.io",
        )
    return min(value, MAX_SECONDS)


def _bound_pod(ref: Any) -> tuple[str, str] | None:
    if not isinstance(ref, dict) or ref.get("kind") != "Pod":
        return None
    return str(ref.get("name", "")), str(ref.get("uid", ""))


def _text(value: Any) -> str:
    return bytes(value).decode()


def decode_token_request_protobuf(raw: bytes) -> Obj:
    """The JSON form of a protobuf TokenRequest (what client-go, so `kubectl create token`,
    sends); field numbers from upstream's authentication/v1 generated.proto."""
    spec: Obj = {}
    for field, _, item in _fields(envelope_spec(raw)):
        if field == 1:
            spec.setdefault("audiences", []).append(_text(item))
        elif field == 4:
            spec["expirationSeconds"] = int(item)
        elif field == 3:
            names = {1: "kind", 2: "apiVersion", 3: "name", 4: "uid"}
            spec["boundObjectRef"] = {
                names[n]: _text(v) for n, _, v in _fields(bytes(item)) if n in names
            }
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
