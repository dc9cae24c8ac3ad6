"""The ASGI application: routes, authentication and authorization, content negotiation,
and `Status` answers for every error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from k3os.apiserver import deletion, discovery, reads, watch, writes
from k3os.apiserver.auth import PEER_CERT_STATE_KEY, RecentCertificates
from k3os.apiserver.context import ApiContext
from k3os.apiserver.errors import (
    APIError,
    BadRequest,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    RequestEntityTooLarge,
    Unauthorized,
)
from k3os.apiserver.eviction import evict
from k3os.apiserver.identity import set_current_attributes
from k3os.apiserver.negotiation import Wanted, decode_body, encode, parse_accept
from k3os.apiserver.openapi import Documents
from k3os.apiserver.openapi_pb import OPENAPI_V2_PROTOBUF
from k3os.apiserver.output import render_list, render_object
from k3os.apiserver.patching import patch
from k3os.apiserver.request import ApiRequest, parse_resource_path
from k3os.apiserver.scale import handle_scale
from k3os.security.authn import Credentials, UserInfo
from k3os.security.authz import Attributes, Decision, forbidden_reason, request_attributes
from k3os.security.impersonation import ImpersonationError, impersonation

__all__ = ["build_app"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response]]
_TABLE_OR_META = ("Table", "PartialObjectMetadata", "PartialObjectMetadataList")


def _json(body: Any, status: int = 200, wanted: Wanted | None = None,
          headers: dict[str, str] | None = None) -> Response:  # fmt: skip
    raw, media = encode(body, wanted or Wanted())
    return Response(raw, status_code=status, media_type=media, headers=headers)


def _status_response(err: APIError) -> Response:
    headers = {}
    retry = err.details.get("retryAfterSeconds") if err.details else None
    if retry:
        headers["Retry-After"] = str(retry)
    return _json(err.to_status(), err.code, headers=headers)


def _warning_headers(warnings: list[str]) -> dict[str, str]:
    if not warnings:
        return {}
    return {"Warning": ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in warnings)}


def _refused(attrs: Attributes, decision: Decision) -> Forbidden:
    """403 with upstream's wording: `<resource> "<name>" is forbidden: User "u" cannot ...`."""
    reason = forbidden_reason(attrs, decision)
    return Forbidden(reason, resource=attrs.resource, group=attrs.api_group, name=attrs.name)


class _Api:
    def __init__(self, ctx: ApiContext, server_address: str) -> None:
        self.ctx = ctx
        self.server_address = server_address
        self.docs = Documents(ctx.registry)
        self.certificates = RecentCertificates()

    # --- the gate every request passes ----------------------------------------------

    def guarded(self, endpoint: Endpoint) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                self.admit(request)
                return await endpoint(request)
            except APIError as e:
                return _status_response(e)
            except Exception as e:  # an answer, never a dropped connection
                log.exception("internal error serving %s %s", request.method, request.url.path)
                return _status_response(InternalError(f"{type(e).__name__}: {e}"))

        return run

    def admit(self, request: Request) -> None:
        path = request.scope["path"]  # not request.url: a URL object built per request
        authn = self.ctx.authenticator
        set_current_attributes(None)
        if authn is None:
            user: UserInfo | None = UserInfo("system:admin", "", ("system:masters",))
        else:
            if path in self.ctx.open_paths:  # served to anyone, credentials or not
                return
            der = request.scope.get("state", {}).get(PEER_CERT_STATE_KEY)
            creds = Credentials.from_request(path, request.headers.get("authorization"), der)
            user = self.certificates.authenticate(authn, creds)
            if user is None:
                raise Unauthorized()
        assert user is not None
        asked = [
            (key.decode("latin-1"), value.decode("latin-1"))
            for key, value in request.headers.raw
            if key.startswith(b"impersonate-")
        ]
        if asked:
            user = self._impersonate(user, asked)
        attrs = request_attributes(user, request.method, path, dict(request.query_params))
        decision = self.ctx.authorizer.authorize(attrs)
        set_current_attributes(attrs)
        if not decision.allowed:
            raise _refused(attrs, decision)

    def _impersonate(self, user: UserInfo, headers: list[tuple[str, str]]) -> UserInfo:
        """The identity `kubectl --as` asks for, once `user` may impersonate each part of it
        (k3os.security.impersonation)."""
        try:
            asked = impersonation(user, headers)
        except ImpersonationError as e:
            raise BadRequest(str(e)) from e
        if asked is None:
            return user
        for check in asked.checks:
            decision = self.ctx.authorizer.authorize(check)
            if not decision.allowed:
                raise _refused(check, decision)
        return asked.user

    # --- health, version, discovery, openapi ----------------------------------------

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        if not self.ctx.ready.is_set():
            return PlainTextResponse("[-]store not ready\nreadyz check failed", 500)
        return PlainTextResponse("ok")

    async def version(self, request: Request) -> Response:
        git = self.ctx.settings.git_version
        major, minor = git.lstrip("v").split(".")[:2]
        return _json(
            {
                "major": major,
                "minor": minor,
                "emulationMajor": major,
                "emulationMinor": minor,
                "gitVersion": git,
                "gitCommit": "",
                "gitTreeState": "clean",
                "buildDate": "1970-01-01T00:00:00Z",
                "goVersion": "python",
                "compiler": "cpython",
                "platform": "linux/amd64",
            }
        )

    def _discovery(self, request: Request, core: bool) -> Response:
        wanted = parse_accept(request.headers.get("accept"), allowed_as=("APIGroupDiscoveryList",))
        if wanted.as_kind == "APIGroupDiscoveryList":
            version = wanted.version if wanted.version in ("v2", "v2beta1") else "v2"
            doc = discovery.aggregated(self.ctx.registry, core=core, version=version)
            raw, _ = encode(doc, Wanted())
            media = discovery.AGGREGATED_CONTENT_TYPE.format(v=version)
            return Response(raw, media_type=media)
        if core:
            return _json(discovery.api_versions(self.server_address), wanted=wanted)
        return _json(discovery.api_group_list(self.ctx.registry), wanted=wanted)

    async def api_root(self, request: Request) -> Response:
        return self._discovery(request, core=True)

    async def apis_root(self, request: Request) -> Response:
        return self._discovery(request, core=False)

    async def core_v1(self, request: Request) -> Response:
        doc = discovery.resource_list(self.ctx.registry, "", "v1")
        return _json(doc)

    async def group(self, request: Request) -> Response:
        doc = discovery.api_group(self.ctx.registry, request.path_params["group"])
        if doc is None:
            raise _page_not_found()
        return _json(doc)

    async def group_version(self, request: Request) -> Response:
        p = request.path_params
        doc = discovery.resource_list(self.ctx.registry, p["group"], p["version"])
        if doc is None:
            raise _page_not_found()
        return _json(doc)

    async def openapi_v2(self, request: Request) -> Response:
        """JSON, or gnostic protobuf for the clients (client-go) that accept only that."""
        accept = request.headers.get("accept") or "application/json"
        types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
        for media in types:
            if media in ("application/json", "*/*", "application/*"):
                raw, etag = self.docs.v2()
                return _cached(request, raw, etag)
            if media == OPENAPI_V2_PROTOBUF.lower():
                raw, etag = self.docs.v2_protobuf()
                # as kube-openapi labels it: the '@' in the asked type is not a valid
                # media type for Go's parser
                return _cached(request, raw, etag, media_type="application/octet-stream")
        raise NotAcceptable(["application/json", OPENAPI_V2_PROTOBUF])

    async def openapi_v3_index(self, request: Request) -> Response:
        return _json(self.docs.v3_index())

    async def openapi_v3(self, request: Request) -> Response:
        found = self.docs.v3(request.path_params["key"])
        if found is None:
            raise _page_not_found()
        raw, etag = found
        return _cached(request, raw, etag)

    # --- resources --------------------------------------------------------------------

    async def core_resource(self, request: Request) -> Response:
        return await self.resource(request, "", "v1", request.path_params["rest"])

    async def group_resource(self, request: Request) -> Response:
        p = request.path_params
        return await self.resource(request, p["group"], p["version"], p["rest"])

    async def resource(self, request: Request, group: str, version: str, rest: str) -> Response:
        query = dict(request.query_params)
        req = parse_resource_path(self.ctx.registry, group, version, rest, query)
        method = request.method
        ua = request.headers.get("user-agent", "")
        ctx = self.ctx
        if req.subresource == "scale":  # custom resources' autoscaling/v1 Scale
            scale_raw = await request.body()
            media = request.headers.get("content-type") or ""
            return _json(await handle_scale(ctx, req, method, scale_raw, media, ua))
        if method == "GET":
            if reads_watch(query):
                return await self.watch(request, req)
            wanted = parse_accept(request.headers.get("accept"), allowed_as=_TABLE_OR_META)
            include = query.get("includeObject", "")
            if req.name:
                obj = await reads.get(ctx, req)
                if req.subresource and req.subresource != "status":
                    raise MethodNotAllowed(req.rt.plural, "GET", group=req.rt.group)
                return _json(
                    render_object(req.rt, obj, wanted, ctx.clock(), include), wanted=wanted
                )
            listing = await reads.list_objects(ctx, req)
            return _json(render_list(req.rt, listing, wanted, ctx.clock(), include), wanted=wanted)
        wanted = parse_accept(request.headers.get("accept"))
        raw = await _body(request)
        content_type = request.headers.get("content-type")
        defs = ctx.definitions
        if method == "POST":
            if req.subresource == "eviction":
                body, _ = decode_body(raw, content_type, definitions=defs)
                return _json(await evict(ctx, req, body), 201, wanted)
            if req.subresource:
                raise MethodNotAllowed(req.rt.plural, "POST", group=req.rt.group)
            body, _ = decode_body(raw, content_type, definitions=defs)
            obj, warnings = await writes.create(ctx, req, body, ua)
            return _json(obj, 201, wanted, _warning_headers(warnings))
        if method == "PUT":
            body, _ = decode_body(raw, content_type, definitions=defs)
            obj, warnings = await writes.update(ctx, req, body, ua)
            return _json(obj, 200, wanted, _warning_headers(warnings))
        if method == "PATCH":
            decode_body(raw, content_type, patch=True)  # 415 / 400 before any read
            obj, warnings, code = await patch(ctx, req, raw, content_type or "", ua)
            return _json(obj, code, wanted, _warning_headers(warnings))
        if method == "DELETE":
            body = decode_body(raw, content_type, definitions=defs)[0] if raw.strip() else None
            opts = deletion.parse_delete_options(req, body)
            if req.name:
                return _json(await deletion.delete(ctx, req, opts), 200, wanted)
            return _json(await deletion.delete_collection(ctx, req, opts), 200, wanted)
        raise MethodNotAllowed(req.rt.plural, method, group=req.rt.group)

    async def watch(self, request: Request, req: ApiRequest) -> Response:
        wanted = parse_accept(request.headers.get("accept"), allowed_as=_TABLE_OR_META)
        now = self.ctx.clock
        include = req.query.get("includeObject", "")

        def render(kind: str, obj: Obj) -> Obj:
            return render_object(req.rt, obj, wanted, now(), include)

        end = watch.WatchEnd()
        lines = await watch.watch_events(self.ctx, req, render if wanted.as_kind else None, end)
        return _WatchAnswer(lines, end)


MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's limit on request bodies


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise RequestEntityTooLarge(f"the request body may not exceed {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise RequestEntityTooLarge(f"the request body may not exceed {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _WatchAnswer(StreamingResponse):
    """A watch's chunked answer. Starlette's own runs the stream and a listener for the
    client's disconnect in an anyio task group and cancels the stream when the client
    goes (our HTTP servers speak ASGI 2.3); each such end left a cancelled task group, its
    scopes, exceptions, tracebacks and frames in cycles that only the garbage collector
    frees. Here the listener, told `http.disconnect`, ends the stream through `WatchEnd`:
    the stream returns, and nothing is cancelled. Once the answer is complete, the HTTP
    servers tell the listener `http.disconnect` too; a client that has not gone by then
    (the in-process one) has its listener cancelled."""

    def __init__(self, lines: AsyncIterator[bytes], end: watch.WatchEnd) -> None:
        super().__init__(
            _guard_stream(lines),
            media_type="application/json",
            headers={"Transfer-Encoding": "chunked"},
        )
        self.end = end

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        listener = asyncio.ensure_future(_until_gone(receive, self.end))
        try:
            await self.stream_response(send)
        finally:
            if not listener.done():
                listener.cancel()


async def _until_gone(receive: Any, end: watch.WatchEnd) -> None:
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:  # a client that cannot be heard is as good as gone
        log.debug("a watch's client could not be heard; its stream ends", exc_info=True)
    end()


async def _guard_stream(lines: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for line in lines:
            yield line
    except APIError as e:
        yield json.dumps({"type": "ERROR", "object": e.to_status()}).encode() + b"\n"


def reads_watch(query: dict[str, str]) -> bool:
    return query.get("watch", "").lower() in ("1", "true")


def _cached(
    request: Request, raw: bytes, etag: str, media_type: str = "application/json"
) -> Response:
    tag = f'"{etag}"'
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(
        raw, media_type=media_type, headers={"ETag": tag, "Cache-Control": "no-cache, private"}
    )


def _page_not_found() -> NotFound:
    err = NotFound("", "")
    err.message = "the server could not find the requested resource"
    err.details = {}
    return err


_RESOURCE_VERBS = frozenset(("GET", "POST", "PUT", "PATCH", "DELETE"))
Asgi = Callable[[Any, Any, Any], Awaitable[None]]


class _ResourceFastPath:
    """Resource requests (`/api/v1/<rest>`, `/apis/<group>/<version>/<rest>`) go straight to
    their endpoint, every other request through Starlette's router.

    Resource requests are nearly all of what a fleet's server answers (Lease renewals,
    status posts, watches), and on the way to them the router tried a dozen routes in turn
    and the request passed two middlewares and an exception wrapper, each a coroutine
    layer: ~6 % of the server's CPU in the 1,000-node rollout's profile. Nothing is lost by
    going around them: the endpoints answer every error themselves (`_Api.guarded`), and
    a path an extra route claims (matched before the resource routes) still goes to the
    router."""

    def __init__(self, app: Starlette, core: Endpoint, group: Endpoint, before: list[Route]):
        self.app = app
        self.core = core
        self.group = group
        self.before = before
        # The extra routes' patterns as one (their named groups unnamed): one match per
        # request, however many routes there are.
        patterns = (re.sub(r"\(\?P<\w+>", "(?:", r.path_regex.pattern) for r in before)
        self._claimed = re.compile("|".join(f"(?:{p})" for p in patterns) or "$^")

    def match(self, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        if path.startswith("/api/v1/"):
            rest = path[8:]
            if not rest:
                return None
            found = (self.core, {"rest": rest})
        elif path.startswith("/apis/"):
            group, _, tail = path[6:].partition("/")
            version, _, rest = tail.partition("/")
            if not (group and version and rest):
                return None
            found = (self.group, {"group": group, "version": version, "rest": rest})
        else:
            return None
        if self._claimed.match(path):
            return None
        return found

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in _RESOURCE_VERBS:
            found = self.match(scope["path"])
            if found is not None:
                endpoint, params = found
                scope["app"] = self.app
                scope["path_params"] = params
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(
    ctx: ApiContext,
    *,
    server_address: str = "127.0.0.1:6443",
    extra_routes: Sequence[tuple[str, Endpoint, list[str]]] = (),
) -> Asgi:
    """The app; `extra_routes` (path, endpoint, methods) pass the same gate and are matched
    before the resource routes (the join endpoints, serviceaccounts/token)."""
    api = _Api(ctx, server_address)
    g = api.guarded
    verbs = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    core, group = g(api.core_resource), g(api.group_resource)
    routes = [Route(path, g(endpoint), methods=methods) for path, endpoint, methods in extra_routes]
    routes += [
        Route("/healthz", g(api.healthz)),
        Route("/livez", g(api.healthz)),
        Route("/readyz", g(api.readyz)),
        Route("/version", g(api.version)),
        Route("/api", g(api.api_root)),
        Route("/apis", g(api.apis_root)),
        Route("/api/v1", g(api.core_v1)),
        Route("/apis/{group}", g(api.group)),
        Route("/apis/{group}/{version}", g(api.group_version)),
        Route("/openapi/v2", g(api.openapi_v2)),
        Route("/openapi/v3", g(api.openapi_v3_index)),
        Route("/openapi/v3/{key:path}", g(api.openapi_v3)),
        Route("/api/v1/{rest:path}", core, methods=verbs),
        Route("/apis/{group}/{version}/{rest:path}", group, methods=verbs),
    ]
    app = Starlette(routes=routes)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _status_response(_page_not_found())

    app.add_exception_handler(404, not_found)
    before = routes[: len(extra_routes)]
    return _ResourceFastPath(app, core, group, before)
