"""The API client: one connection (TLS, credentials) and dict-level requests over it.

The connection is an httpx2 client configured from a `ClientConfig` (k3os.client.kubeconfig:
server URL, CA, client certificate, bearer/exec credentials). The requests are made here,
on plain dicts, because the controllers handle every kind, custom ones included, and need
things a typed client does not offer: watches with `allowWatchBookmarks` that tell a 410
Gone apart from a dropped connection, deletes with preconditions and a propagation policy
in one call, subresources such as a namespace's `finalize`, and discovery. lightkube's
typed client is available on the same configuration (`Kube.typed()`), imported only then.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx2

from k3os.apis.jsonbytes import compact, parse
from k3os.client.errors import ClientError, TransportError, status_error
from k3os.client.http2 import Http2Transport
from k3os.client.kubeconfig import ClientConfig, Cluster, User, client_auth, load_kubeconfig
from k3os.client.kubeconfig import ssl_context as make_ssl_context
from k3os.client.resources import ResourceType

__all__ = ["Kube", "ObjectList", "PatchType", "WatchEvent", "connect", "connect_kubeconfig"]

Obj = dict[str, Any]
PatchType = Literal["merge", "json", "strategic", "apply"]
_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

# httpx logs every request at INFO; a watch-heavy controller would drown the server's log.
logging.getLogger("httpx2").setLevel(logging.WARNING)

_PATCH_CONTENT = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
ResourceTypes = list[ResourceType]
EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    object: Obj

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion") or "")


@dataclass(frozen=True)
class ObjectList:
    items: list[Obj]
    resource_version: str


def connect_kubeconfig(
    path: Path | str,
    *,
    context: str | None = None,
    timeout: float = 10.0,
    field_manager: str = "k3os",
) -> Kube:
    """A client for the cluster a kubeconfig file (and optionally a context in it) names."""
    config = load_kubeconfig(path, context)
    return Kube(config, timeout=timeout, field_manager=field_manager)


def connect(
    server: str,
    *,
    ca: Path | str,
    cert: Path | str | None = None,
    key: Path | str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
    field_manager: str = "k3os",
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Kube:
    """A client for `server` trusting `ca`, with a client certificate and/or a bearer token
    (`transport`: another way to the server than HTTPS, e.g. `InProcessTransport`)."""
    config = client_config(server, ca=ca, cert=cert, key=key, token=token)
    return Kube(config, timeout=timeout, field_manager=field_manager, transport=transport)


def client_config(
    server: str,
    *,
    ca: Path | str,
    cert: Path | str | None = None,
    key: Path | str | None = None,
    token: str | None = None,
) -> ClientConfig:
    """The configuration `connect` builds a client from."""
    user = User(
        client_cert=str(cert) if cert else None,
        client_key=str(key) if key else None,
        token=token,
    )
    return ClientConfig(Cluster(server=server, certificate_auth=str(ca)), user)


class Kube:
    """Requests on dicts against one API server. Close it with `aclose()`."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: float = 10.0,
        field_manager: str = "k3os",
        transport: httpx2.AsyncBaseTransport | None = None,
        http2: bool = True,
    ) -> None:
        self.config = config
        self.field_manager = field_manager
        self._timeout = timeout
        if config.user is None:
            raise ClientError(f"no user (credentials) for {config.cluster.server}")
        auth = self._auth = client_auth(config.user)
        try:
            verify = make_ssl_context(config)
        except (OSError, ValueError) as e:  # an unreadable CA, certificate or key file
            raise ClientError(f"cannot set up TLS for {config.cluster.server}: {e}") from e
        # Over HTTP/1.1 every informer holds a connection for its watch: no cap on the
        # pool, or a controller watching many kinds would starve its own requests. Idle
        # connections are kept 25 s (httpx's default is 5 s, under an agent's 10 s Lease
        # interval: a TLS handshake per renewal), within the server's 30 s keep-alive.
        limits = httpx2.Limits(
            max_connections=None, max_keepalive_connections=32, keepalive_expiry=25.0
        )
        # HTTP/2 where the server offers it (ours does): the requests and every informer's
        # watch share one TLS connection, so an agent back from a reboot makes one
        # handshake, not one per watch (k3os.client.http2).
        if transport is None and http2 and str(config.cluster.server).startswith("https:"):
            transport = Http2Transport(verify, limits=limits)
        self._http = httpx2.AsyncClient(
            base_url=config.cluster.server,
            verify=verify,
            auth=auth,
            timeout=httpx2.Timeout(timeout),
            trust_env=False,
            transport=transport,
            limits=limits,
        )

    @property
    def server(self) -> str:
        return str(self.config.cluster.server)

    def typed(self) -> Any:
        """lightkube's own AsyncClient on the same configuration (typed models)."""
        import lightkube
        from lightkube.config import kubeconfig, models

        cluster, user = self.config.cluster, self.config.user
        assert user is not None
        plugin = None
        if user.exec is not None:
            plugin = models.UserExec(
                apiVersion=user.exec.apiVersion,
                command=user.exec.command,
                args=list(user.exec.args) or None,
                env=[models.NameValue(name=k, value=v) for k, v in user.exec.env] or None,
            )
        config = kubeconfig.KubeConfig.from_one(
            cluster=models.Cluster(
                server=cluster.server,
                certificate_auth=cluster.certificate_auth,
                certificate_auth_data=cluster.certificate_auth_data,
                insecure=cluster.insecure,
            ),
            user=models.User(
                exec=plugin,
                username=user.username,
                password=user.password,
                token=user.token,
                token_file=user.token_file,
                client_cert=user.client_cert,
                client_cert_data=user.client_cert_data,
                client_key=user.client_key,
                client_key_data=user.client_key_data,
            ),
            namespace=self.config.namespace,
            fname=self.config.fname,
        )
        return lightkube.AsyncClient(config, field_manager=self.field_manager, trust_env=False)

    @contextlib.asynccontextmanager
    async def stream_get(self, path: str, *, read_limit: float) -> AsyncIterator[httpx2.Response]:
        """A streamed GET on this connection (a large download), each step within `read_limit`
        seconds. httpx2.HTTPError on transport failures; the caller checks the status."""
        async with self._http.stream("GET", path, timeout=httpx2.Timeout(read_limit)) as resp:
            yield resp

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Obj:
        headers = {"Accept": accept}
        content = None
        if body is not None:
            headers["Content-Type"] = content_type
            content = compact(body)
        status, raw = await self._exchange(method, path, params, content, headers)
        if status >= 400:
            raise status_error(status, raw)
        data = parse(raw) if raw else {}
        return data if isinstance(data, dict) else {"items": data}

    async def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes]:
        """One request on the HTTP layer: the status and the whole body (TransportError
        when the server cannot be reached or the connection fails)."""
        try:
            resp = await self._http.request(
                method, path, params=params or None, content=content, headers=headers
            )
        except httpx2.TransportError as e:
            raise TransportError(f"{method} {path}: {e!r}") from e
        return resp.status_code, resp.content

    @contextlib.asynccontextmanager
    async def _lines(
        self, path: str, params: dict[str, str], headers: dict[str, str], read_limit: float
    ) -> AsyncIterator[AsyncIterator[str | bytes]]:
        """A streamed GET on the HTTP layer, line by line (each read within `read_limit`
        seconds); an error status raises its Status, a failed connection TransportError."""
        timeout = httpx2.Timeout(self._timeout, read=read_limit)
        try:
            async with self._http.stream(
                "GET", path, params=params, timeout=timeout, headers=headers
            ) as resp:
                if resp.status_code >= 400:
                    raise status_error(resp.status_code, await resp.aread())
                yield resp.aiter_lines()
        except httpx2.TransportError as e:
            raise TransportError(f"GET {path}: {e!r}") from e

    def _write_params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        params = {"fieldManager": self.field_manager} if self.field_manager else {}
        params.update(extra or {})
        return params

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> Obj:
        return await self.request("GET", rt.path(namespace, name))

    async def list(
        self,
        rt: ResourceType,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        page_size: int = 500,
        metadata_only: bool = False,
    ) -> ObjectList:
        """Every object (pages followed), with the list's resourceVersion.

        `metadata_only` asks for PartialObjectMetadata: metadata without spec or status,
        which is all a garbage collector needs, at a fraction of the memory."""
        params = {"limit": str(page_size)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        items: list[Obj] = []
        while True:
            page = await self.request(
                "GET",
                rt.path(namespace),
                params=params,
                accept=_METADATA_LIST if metadata_only else "application/json",
            )
            meta = page.get("metadata") or {}
            for item in page.get("items") or []:
                # Lists leave out kind and apiVersion on items; watches carry them.
                if not metadata_only:
                    item.setdefault("kind", rt.kind)
                    item.setdefault("apiVersion", rt.api_version)
                items.append(item)
            cont = meta.get("continue")
            if not cont:
                return ObjectList(items, str(meta.get("resourceVersion") or ""))
            params["continue"] = str(cont)

    async def create(self, rt: ResourceType, obj: Obj, namespace: str = "") -> Obj:
        ns = namespace or str((obj.get("metadata") or {}).get("namespace") or "")
        body = {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
        return await self.request("POST", rt.path(ns), params=self._write_params(), body=body)

    async def replace(self, rt: ResourceType, obj: Obj, *, subresource: str = "") -> Obj:
        meta = obj.get("metadata") or {}
        path = rt.path(str(meta.get("namespace") or ""), str(meta["name"]), subresource)
        body = {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
        return await self.request("PUT", path, params=self._write_params(), body=body)

    async def patch(
        self,
        rt: ResourceType,
        name: str,
        patch: Any,
        *,
        namespace: str = "",
        patch_type: PatchType = "merge",
        subresource: str = "",
        force: bool = False,
    ) -> Obj:
        extra = {"force": "true"} if force and patch_type == "apply" else None
        return await self.request(
            "PATCH",
            rt.path(namespace, name, subresource),
            params=self._write_params(extra),
            body=patch,
            content_type=_PATCH_CONTENT[patch_type],
        )

    async def delete(
        self,
        rt: ResourceType,
        name: str,
        namespace: str = "",
        *,
        propagation: Literal["", "Background", "Foreground", "Orphan"] = "",
        uid: str = "",
        resource_version: str = "",
        grace_period: int | None = None,
    ) -> Obj:
        """Delete (or mark for deletion); preconditions make it safe against a re-created
        object of the same name (`uid`) or a concurrent change (`resource_version`)."""
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        pre = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if pre:
            body["preconditions"] = pre
        if grace_period is not None:
            body["gracePeriodSeconds"] = grace_period
        return await self.request("DELETE", rt.path(namespace, name), body=body)

    async def watch(
        self,
        rt: ResourceType,
        namespace: str = "",
        *,
        resource_version: str = "",
        timeout_seconds: int = 300,
        bookmarks: bool = True,
        label_selector: str = "",
        field_selector: str = "",
        metadata_only: bool = False,
        send_initial_events: bool = False,
    ) -> AsyncIterator[WatchEvent]:
        """One watch request's events; returns when the server ends the stream.

        `send_initial_events`: the stream starts with the current objects (ADDED) and a
        BOOKMARK annotated `k8s.io/initial-events-end` (a streamed list: one request for a
        list and its watch). An ERROR event raises its Status as an error (GoneError for 410).
        """
        params = {"watch": "true", "timeoutSeconds": str(timeout_seconds)}
        if resource_version:
            params["resourceVersion"] = resource_version
        if send_initial_events:
            params["sendInitialEvents"] = "true"
            params["resourceVersionMatch"] = "NotOlderThan"
        if bookmarks:
            params["allowWatchBookmarks"] = "true"
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        headers = {"Accept": _METADATA if metadata_only else "application/json"}
        read_limit = timeout_seconds + self._timeout
        async with self._lines(rt.path(namespace), params, headers, read_limit) as lines:
            async for line in lines:
                if not line.strip():
                    continue
                event = parse(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise status_error(int(obj.get("code") or 500), obj)
                yield WatchEvent(event["type"], obj)

    async def discover(self) -> ResourceTypes:
        """Every top-level resource the server serves, at each group's preferred version."""
        found: ResourceTypes = []
        core = await self.request("GET", "/api/v1")
        found += _resources("", "v1", core)
        groups = await self.request("GET", "/apis")
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("version")
            if not preferred:
                continue
            listing = await self.request("GET", f"/apis/{group['name']}/{preferred}")
            found += _resources(group["name"], preferred, listing)
        return found


def _resources(group: str, version: str, listing: Obj) -> list[ResourceType]:
    return [
        ResourceType(
            group,
            version,
            r["name"],
            r["kind"],
            bool(r.get("namespaced")),
            frozenset(r.get("verbs") or ()),
        )
        for r in listing.get("resources") or []
        if "/" not in r["name"]
    ]
