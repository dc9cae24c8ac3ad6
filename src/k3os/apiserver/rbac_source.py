"""The RBAC policy as the authorizer reads it: Roles, ClusterRoles and their bindings from
store mirrors (`mirror.py`), so a request costs no store read; and the bootstrap policy
created at start.

`ensure_bootstrap_policy` creates the default ClusterRoles and ClusterRoleBindings that
are missing and leaves existing objects alone, so an operator's edits survive restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from k3os.apiserver.context import ApiContext
from k3os.apiserver.errors import AlreadyExists
from k3os.apiserver.mirror import StoreMirror
from k3os.apiserver.objects import prepare_create
from k3os.apiserver.registry import ResourceType
from k3os.security.bootstrap_policy import bootstrap_objects

__all__ = ["RBAC_RESOURCES", "MirroredRuleSource", "ensure_bootstrap_policy"]

log = logging.getLogger(__name__)

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_RESOURCES = ("clusterroles", "clusterrolebindings", "roles", "rolebindings")
Obj = Mapping[str, Any]


def rbac_type(ctx: ApiContext, plural: str) -> ResourceType:
    rt = ctx.registry.lookup(RBAC_GROUP, "v1", plural)
    assert rt is not None, plural
    return rt


class MirroredRuleSource:
    """A `k3os.security.rbac.RuleSource` over four store mirrors."""

    def __init__(self, ctx: ApiContext) -> None:
        self.mirrors = {p: StoreMirror(ctx.objects, rbac_type(ctx, p)) for p in RBAC_RESOURCES}

    def cluster_roles(self) -> Iterable[Obj]:
        return self.mirrors["clusterroles"].all()

    def cluster_role_bindings(self) -> Iterable[Obj]:
        return self.mirrors["clusterrolebindings"].all()

    def roles(self, namespace: str) -> Iterable[Obj]:
        return self.mirrors["roles"].in_namespace(namespace)

    def role_bindings(self, namespace: str) -> Iterable[Obj]:
        return self.mirrors["rolebindings"].in_namespace(namespace)


async def ensure_bootstrap_policy(ctx: ApiContext) -> int:
    """Create the bootstrap ClusterRoles/ClusterRoleBindings that are missing; how many."""
    created = 0
    for obj in bootstrap_objects():
        plural = "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings"
        rt = rbac_type(ctx, plural)
        try:
            await ctx.objects.create(rt, prepare_create(rt, obj, "", ctx.clock()))
        except AlreadyExists:
            continue
        created += 1
    if created:
        log.info("created %d bootstrap RBAC objects", created)
    return created
