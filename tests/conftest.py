"""Suite-wide test set-up: unmarked tests are unit tests; shared fixtures for real tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tooling.kubectl import ensure_kubectl

_LEVELS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(m) for m in _LEVELS):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """The project's own kubectl 1.36, installed into the venv on first use."""
    return ensure_kubectl()
