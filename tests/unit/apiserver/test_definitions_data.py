"""The upstream definitions shipped in the package are the pinned release's, unchanged."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from k3os.apiserver import schemas

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_definitions_are_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "gen", ROOT / "scripts" / "gen-k8s-definitions.py"
    )
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    shipped = ROOT / "src" / "k3os" / "apiserver" / "data" / schemas.DEFINITIONS_FILE
    assert shipped.read_bytes() == gen.render(), "run scripts/gen-k8s-definitions.py"


def test_served_kinds_resolve_from_the_shipped_file() -> None:
    found = schemas.closure(("io.k8s.api.core.v1.Node",))
    assert "io.k8s.api.core.v1.NodeSpec" in found
