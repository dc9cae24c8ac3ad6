"""Every security module's public surface is exactly its `__all__`, and all of it exists."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "authn",
    "authz",
    "bootstrap_policy",
    "join",
    "node",
    "noderestriction",
    "rbac",
    "serviceaccount",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(f"k3os.security.{name}")
    for exported in module.__all__:
        assert hasattr(module, exported), f"{name}.{exported}"
