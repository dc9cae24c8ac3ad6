"""Which identity impersonation headers ask for, and what the requester must be allowed."""

from __future__ import annotations

import pytest

from k3os.security.authn import AUTHENTICATED, UserInfo
from k3os.security.impersonation import ImpersonationError, impersonation

BOB = UserInfo("bob", groups=("ops", AUTHENTICATED))


def checks(headers: list[tuple[str, str]]) -> list[tuple[str, str, str, str, str]]:
    asked = impersonation(BOB, headers)
    assert asked is not None
    return [(c.api_group, c.resource, c.subresource, c.namespace, c.name) for c in asked.checks]


def test_no_headers_no_impersonation() -> None:
    assert impersonation(BOB, []) is None


def test_a_user_with_groups_uid_and_extras() -> None:
    extra = "impersonate-extra-scopes%2Fread"
    headers = [("impersonate-user", "jane"), ("impersonate-group", "dev"),
               ("impersonate-group", "qa"), ("impersonate-uid", "u-1"),
               (extra, "a"), (extra, "b")]  # fmt: skip
    asked = impersonation(BOB, headers)
    assert asked is not None
    assert asked.user == UserInfo(
        "jane", "u-1", ("dev", "qa", AUTHENTICATED), {"scopes/read": ("a", "b")}
    )
    assert checks(headers) == [
        ("", "users", "", "", "jane"),
        ("", "groups", "", "", "dev"),
        ("", "groups", "", "", "qa"),
        ("authentication.k8s.io", "uids", "", "", "u-1"),
        ("authentication.k8s.io", "userextras", "scopes/read", "", "a"),
        ("authentication.k8s.io", "userextras", "scopes/read", "", "b"),
    ]
    assert all(c.verb == "impersonate" and c.user == BOB for c in asked.checks)  # type: ignore[union-attr]


def test_a_service_account_brings_its_groups_unless_some_are_asked() -> None:
    sa = [("impersonate-user", "system:serviceaccount:team:robot")]
    asked = impersonation(BOB, sa)
    assert asked is not None
    assert asked.user.groups == (
        "system:serviceaccounts", "system:serviceaccounts:team", AUTHENTICATED,
    )  # fmt: skip
    assert checks(sa) == [("", "serviceaccounts", "", "team", "robot")]
    with_group = [*sa, ("impersonate-group", "x")]
    assert checks(with_group)[1] == ("", "groups", "", "", "x")
    assert impersonation(BOB, with_group).user.groups == ("x", AUTHENTICATED)  # type: ignore[union-attr]


def test_anonymous_is_not_made_authenticated() -> None:
    asked = impersonation(BOB, [("impersonate-user", "system:anonymous")])
    assert asked is not None and AUTHENTICATED not in asked.user.groups


@pytest.mark.parametrize(
    "headers",
    [[("impersonate-group", "dev")], [("impersonate-uid", "1")], [("impersonate-extra-a", "b")]],
)
def test_parts_without_a_user_are_refused(headers: list[tuple[str, str]]) -> None:
    with pytest.raises(ImpersonationError, match="needs a user"):
        impersonation(BOB, headers)
