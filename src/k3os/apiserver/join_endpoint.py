"""The join endpoints on the API port: `GET /cacerts` (the CA bundle, open, so a box can
pin it by the hash in its token) and `POST /v1-k3os/node-certificate` (a node client
certificate for a CSR, against the join token or the node's own current certificate).

The rules are `k3os.security.join`'s; this module reads and writes the node-password
Secret and speaks HTTP. scrypt runs in a worker thread so a join does not stall the loop.
Passwords, tokens and keys are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from k3os.apiserver.context import ApiContext
from k3os.apiserver.errors import AlreadyExists, BadRequest, Forbidden, NotFound, Unauthorized
from k3os.apiserver.identity import current_attributes
from k3os.apiserver.objects import prepare_create
from k3os.security import join
from k3os.security.pki import KeyPair

__all__ = ["JoinEndpoints"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
_ATTEMPTS = 3  # create-if-absent races with another box claiming the same name


class JoinEndpoints:
    """Handlers bound to the store and the cluster CA."""

    def __init__(self, ctx: ApiContext, ca: KeyPair) -> None:
        self.ctx = ctx
        self.ca = ca

    async def cacerts(self, request: Request) -> Response:
        # Exactly the bytes the K10 hash is computed over.
        return Response(self.ca.cert_pem, media_type="text/plain")

    async def node_certificate(self, request: Request) -> Response:
        attrs = current_attributes()
        if attrs is None:
            raise Unauthorized()
        raw = await request.body()
        try:
            body = json.loads(raw or b"null")
        except ValueError as e:
            raise BadRequest(f"invalid node-certificate request: body: not JSON ({e})") from e
        try:
            req = join.parse_request(body if isinstance(body, dict) else {"": body})
            join.check_caller(attrs.user, req)
            await self._claim_name(req)
        except join.JoinForbidden as e:
            log.info("node certificate refused", extra={"node": _safe_name(body)})
            raise Forbidden(str(e)) from e
        except join.JoinInvalid as e:
            raise BadRequest(str(e)) from e
        answer = join.issue_node_certificate(self.ca, req, now=self.ctx.clock())
        log.info("issued node certificate", extra={"node": req.node_name, "by": attrs.user.name})
        return JSONResponse(answer)

    async def _claim_name(self, req: join.NodeCertificateRequest) -> None:
        rt = self.ctx.registry.lookup("", "v1", "secrets")
        assert rt is not None
        name = join.password_secret_name(req.node_name)
        for _ in range(_ATTEMPTS):
            try:
                stored: Obj | None = await self.ctx.objects.get(rt, join.PASSWORD_NAMESPACE, name)
            except NotFound:
                stored = None
            decision = await asyncio.to_thread(join.check_node_password, stored, req)
            if decision.secret_to_create is None:
                return
            obj = prepare_create(
                rt, decision.secret_to_create, join.PASSWORD_NAMESPACE, self.ctx.clock()
            )
            try:
                await self.ctx.objects.create(rt, obj)
                return
            except AlreadyExists:
                continue  # another box won the race: check its password against ours
        raise Forbidden(f'node name "{req.node_name}" is being claimed concurrently; retry')


def _safe_name(body: Any) -> str:
    name = body.get("nodeName") if isinstance(body, dict) else None
    return name[:253] if isinstance(name, str) else ""
