"""The security room wired into a running API server.

`ApiSecurity(ctx, pki)` installs on the context:
- authentication: client certificates of the cluster CA, ServiceAccount JWTs signed by the
  server's key (only while their ServiceAccount exists with the uid they name), and the
  join token (only under `/v1-k3os/`); nothing else authenticates;
- authorization: `system:masters` first (as kube-apiserver's privileged-group
  authorizer, so the admin is never locked out by a broken policy), then the Node
  authorizer over a pod graph, then RBAC over mirrors of the Roles, ClusterRoles and
  bindings, kept current by watching the store;
- which paths answer without credentials: `/cacerts` always; `/livez`, `/readyz`,
  `/healthz` and `/version` unless `anonymous_health` is off.
`routes()` are the extra endpoints (`/cacerts`, the join endpoint, TokenRequest) for
`build_app`; `start()` creates the bootstrap policy and waits until the mirrors hold the
store's state; `stop()` ends the watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from k3os.apiserver.context import ApiContext
from k3os.apiserver.join_endpoint import JoinEndpoints
from k3os.apiserver.mirror import StoreMirror
from k3os.apiserver.rbac_source import MirroredRuleSource, ensure_bootstrap_policy
from k3os.apiserver.tokenrequest import TOKEN_PATH, TokenRequests
from k3os.security import authn, authz
from k3os.security.bootstrap import ServerPKI
from k3os.security.join import CA_ENDPOINT, JOIN_ENDPOINT
from k3os.security.node import NodeAuthorizer, PodGraph
from k3os.security.rbac import RBACAuthorizer
from k3os.security.serviceaccount import (
    DEFAULT_AUDIENCES,
    ServiceAccountClaims,
    TokenSigner,
    TokenVerifier,
)

__all__ = [
    "ALWAYS_OPEN",
    "ApiSecurity",
    "PrivilegedGroups",
    "Route",
    "judge_certificate_time_in_app",
]

ALWAYS_OPEN = frozenset({CA_ENDPOINT})
Endpoint = Callable[[Request], Awaitable[Response]]
Route = tuple[str, Endpoint, list[str]]


class PrivilegedGroups:
    """Members of `system:masters` may do anything; no opinion about anyone else."""

    def __init__(self, groups: tuple[str, ...] = ("system:masters",)) -> None:
        self._groups = groups

    def authorize(self, attrs: authz.Attributes) -> authz.Decision:
        if any(attrs.user.in_group(g) for g in self._groups):
            return authz.Decision(authz.Verdict.ALLOW)
        return authz.Decision(authz.Verdict.NO_OPINION)

    def rules_for(self, user: authn.UserInfo, namespace: str) -> authz.Rules:
        return authz.ALL_RULES if any(user.in_group(g) for g in self._groups) else authz.Rules()


class ApiSecurity:
    def __init__(
        self,
        ctx: ApiContext,
        pki: ServerPKI,
        *,
        anonymous_health: bool = True,
        audiences: tuple[str, ...] = DEFAULT_AUDIENCES,
    ) -> None:
        self.ctx = ctx
        self.pki = pki

        def clock() -> dt.datetime:
            return ctx.clock()

        signer = TokenSigner(pki.service_account_key)
        verifier = TokenVerifier([signer.public_key], audiences=audiences)
        sa_type = ctx.registry.lookup("", "v1", "serviceaccounts")
        assert sa_type is not None
        self.service_accounts = StoreMirror(ctx.objects, sa_type)
        ctx.authenticator = authn.union(
            authn.ClientCertAuthenticator([pki.ca.cert], clock),
            authn.ServiceAccountAuthenticator(verifier, clock, self._service_account_exists),
            authn.JoinTokenAuthenticator([pki.token]),
        )
        self.rules = MirroredRuleSource(ctx)
        self.graph = PodGraph()
        pods = ctx.registry.lookup("", "v1", "pods")
        assert pods is not None
        self.pods = StoreMirror(
            ctx.objects, pods, on_set=self.graph.set_pod, on_delete=self.graph.delete_pod
        )
        ctx.authorizer = authz.union(
            PrivilegedGroups(), NodeAuthorizer(self.graph), RBACAuthorizer(self.rules)
        )
        ctx.open_paths = ALWAYS_OPEN | (authn.PUBLIC_PATHS if anonymous_health else frozenset())
        self._join = JoinEndpoints(ctx, pki.ca)
        self._tokens = TokenRequests(ctx, signer, audiences, self.service_accounts.put)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def mirrors(self) -> list[StoreMirror]:
        return [*self.rules.mirrors.values(), self.pods, self.service_accounts]

    def _service_account_exists(self, claims: ServiceAccountClaims) -> bool:
        """A token outlives neither its ServiceAccount nor a re-creation under the same name."""
        sa = self.service_accounts.get(claims.namespace, claims.name)
        return sa is not None and str(sa["metadata"].get("uid", "")) == claims.uid

    def routes(self) -> list[Route]:
        return [
            (CA_ENDPOINT, self._join.cacerts, ["GET"]),
            (JOIN_ENDPOINT, self._join.node_certificate, ["POST"]),
            (TOKEN_PATH, self._tokens.create, ["POST"]),
        ]

    async def start(self) -> None:
        """Bootstrap policy in the store, then mirrors running and synced."""
        await ensure_bootstrap_policy(self.ctx)
        for mirror in self.mirrors:
            self._tasks.append(asyncio.create_task(mirror.run(), name=f"mirror-{mirror.rt.plural}"))
        synced = asyncio.ensure_future(asyncio.gather(*(m.synced.wait() for m in self.mirrors)))
        waiting: list[asyncio.Future[Any]] = [synced, *self._tasks]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not synced.done():  # a mirror ended before its first list: say why
            synced.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await synced
            for task in self._tasks:
                if task.done():
                    task.result()
            raise RuntimeError("an RBAC or pod mirror stopped before it synced")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # A mirror that failed has said why already (start() raised it).
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: the handshake still checks the chain to the
# cluster CA, but an expired client certificate reaches the app, which answers 401 with
# the reason in its log instead of a bare TLS alert (ClientCertAuthenticator checks time).
_NO_CHECK_TIME = 0x200000


def judge_certificate_time_in_app(config: uvicorn.Config) -> None:
    """Load uvicorn's config now and relax the TLS time check on client certificates."""
    if not config.loaded:
        config.load()
    if config.ssl is not None:
        config.ssl.verify_flags |= _NO_CHECK_TIME
