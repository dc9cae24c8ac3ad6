"""The public surface of k3os.apis and k3os.controllers.decisions is exactly what __all__ says."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest


@pytest.mark.parametrize("module", ["k3os.apis", "k3os.controllers.decisions"])
def test_exported_names_are_all_and_only_all(module: str) -> None:
    mod = importlib.import_module(module)
    for name in mod.__all__:  # k3os.apis imports its names on first use
        getattr(mod, name)
    public = {
        name
        for name, value in vars(mod).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(mod.__all__) == public
    assert sorted(mod.__all__) == mod.__all__


def test_an_unknown_name_is_an_attribute_error() -> None:
    import k3os.apis

    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = k3os.apis.Nothing  # type: ignore[attr-defined]
