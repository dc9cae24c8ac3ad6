"""Impersonation (`kubectl --as USER --as-group GROUP`): acting as another identity.

A request with `Impersonate-User` (and optionally `Impersonate-Group`, `Impersonate-Uid`,
`Impersonate-Extra-<key>` headers) is served as that identity, once the requester is
authorized to `impersonate` each part of it, as kube-apiserver does:
- a user: `users/<name>` (a ServiceAccount's username, `system:serviceaccount:<ns>:<name>`:
  `serviceaccounts/<name>` in `<ns>`, and its groups when none are asked for);
- each group: `groups/<name>`; the uid: `uids/<uid>` and each extra value
  `userextras/<key>` with the value as the name (both in `authentication.k8s.io`).
The identity is then authenticated (`system:authenticated` added), and everything after
(authorization, admission, the reviews) sees it. Groups, a uid or extras without a user
are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from k3os.security.authn import AUTHENTICATED, SERVICE_ACCOUNTS, UserInfo
from k3os.security.authz import Attributes

__all__ = ["EXTRA_PREFIX", "Impersonation", "ImpersonationError", "impersonation"]

USER, GROUP, UID = "impersonate-user", "impersonate-group", "impersonate-uid"
EXTRA_PREFIX = "impersonate-extra-"
_SA_PREFIX = "system:serviceaccount:"
_AUTHN_GROUP = "authentication.k8s.io"


class ImpersonationError(ValueError):
    """Impersonation headers that do not make an identity (a group without a user)."""


@dataclass(frozen=True)
class Impersonation:
    user: UserInfo
    """Who the request acts as."""
    checks: tuple[Attributes, ...]
    """What the requester must be allowed (`impersonate` each part), in order."""


def impersonation(requester: UserInfo, headers: Sequence[tuple[str, str]]) -> Impersonation | None:
    """The identity the headers (lower-case names, in order, repeats kept) ask to act as,
    and the checks that allow it; None when they ask for none."""
    name = ""
    groups: list[str] = []
    uid = ""
    extra: dict[str, list[str]] = {}
    for key, value in headers:
        if key == USER:
            name = value
        elif key == GROUP:
            groups.append(value)
        elif key == UID:
            uid = value
        elif key.startswith(EXTRA_PREFIX):
            extra.setdefault(unquote(key[len(EXTRA_PREFIX) :]).lower(), []).append(value)
    if not name:
        if groups or uid or extra:
            raise ImpersonationError(
                "impersonating groups, a uid or extras needs a user to impersonate "
                "(the Impersonate-User header)"
            )
        return None

    def act(resource: str, what: str, ns: str = "", group: str = "", sub: str = "") -> Attributes:
        return Attributes(requester, "impersonate", ns, group, resource, sub, what)

    checks = [act("groups", group) for group in groups]
    if name.startswith(_SA_PREFIX):
        namespace, _, account = name[len(_SA_PREFIX) :].partition(":")
        checks.insert(0, act("serviceaccounts", account, namespace))
        if not groups:  # a ServiceAccount's groups follow from its name
            groups = [SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}"]
    else:
        checks.insert(0, act("users", name))
    if uid:
        checks.append(act("uids", uid, group=_AUTHN_GROUP))
    for key, values in extra.items():
        checks += [act("userextras", value, group=_AUTHN_GROUP, sub=key) for value in values]
    if AUTHENTICATED not in groups and name != "system:anonymous":
        groups.append(AUTHENTICATED)
    user = UserInfo(name, uid, tuple(groups), {k: tuple(v) for k, v in extra.items()})
    return Impersonation(user, tuple(checks))
