"""A client certificate's signature is checked once; its validity at every request."""

from __future__ import annotations

import datetime as dt

import pytest

from k3os.security import authn
from k3os.security.authn import ClientCertAuthenticator, Credentials, UserInfo
from k3os.security.pki import KeyPair, issue

from .conftest import NOW
from .test_authn import der


def test_the_signature_is_checked_once_and_the_validity_every_time(
    cluster_ca: KeyPair, other_ca: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[int] = []
    real = authn._issued_by
    monkeypatch.setattr(authn, "_issued_by", lambda c, ca: checks.append(1) or real(c, ca))
    now = [NOW]
    auth = ClientCertAuthenticator([cluster_ca.cert], lambda: now[0])
    cert, _ = issue(cluster_ca, "system:node:n1", organizations=["system:nodes"], client=True,
                    now=NOW)  # fmt: skip
    creds = Credentials("/", der(cert))
    for _ in range(3):
        assert auth.authenticate(creds) == UserInfo("system:node:n1", "", ("system:nodes",))
    assert len(checks) == 1
    now[0] = cert.not_valid_after_utc + dt.timedelta(seconds=1)
    assert auth.authenticate(creds) is None  # expired, though its signature is known good
    foreign, _ = issue(other_ca, "intruder", client=True, now=NOW)
    for _ in range(2):
        assert auth.authenticate(Credentials("/", der(foreign))) is None
    assert len(checks) == 2


def test_the_cache_is_bounded(cluster_ca: KeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authn, "_SIGNED_CACHE", 2)
    auth = ClientCertAuthenticator([cluster_ca.cert], lambda: NOW)
    for i in range(5):
        cert, _ = issue(cluster_ca, f"u{i}", client=True, now=NOW)
        assert auth.authenticate(Credentials("/", der(cert))) is not None
        assert len(auth._signed) <= 2
