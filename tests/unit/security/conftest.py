"""Shared PKI material for the security tests: made once per session, on a fixed clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from k3os.security.pki import KeyPair, ensure_ca

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def cluster_ca(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return ensure_ca(Path(tmp_path_factory.mktemp("ca")), "k3os-ca", NOW)


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return ensure_ca(Path(tmp_path_factory.mktemp("other-ca")), "k3os-ca", NOW)
