"""The CRDs are generated from the models, shipped as files, and structural."""

from __future__ import annotations

import runpy
from typing import Any

import kubernetes_validate
import pytest
import yaml

from k3os.apis import crd_manifests, shipped_crds
from k3os.apis.crds import CRD_DIR, SchemaError, _structural, crd_files, write_crd_files


def test_shipped_files_equal_the_generated_output() -> None:
    """If this fails, run `python -m k3os.apis` and commit the result."""
    files = crd_files()
    assert sorted(p.name for p in CRD_DIR.glob("*.yaml")) == sorted(files)
    for name, text in files.items():
        assert (CRD_DIR / name).read_text() == text, name
    assert shipped_crds() == sorted(crd_manifests(), key=lambda m: m["metadata"]["name"])


def test_write_crd_files(tmp_path: Any) -> None:
    written = write_crd_files(tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(crd_files())
    assert yaml.safe_load(written[0].read_text())["kind"] == "CustomResourceDefinition"


@pytest.mark.parametrize("crd", crd_manifests(), ids=lambda c: c["metadata"]["name"])
def test_manifest_fits_the_crd_schema(crd: dict[str, Any]) -> None:
    kubernetes_validate.validate(crd, kubernetes_validate.latest_version(), strict=True)


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        out += _walk(sub, f"{path}.{name}")
    if "items" in node:
        out += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        out += _walk(node["additionalProperties"], f"{path}.*")
    return out


@pytest.mark.parametrize("crd", crd_manifests(), ids=lambda c: c["metadata"]["name"])
def test_schema_is_structural(crd: dict[str, Any]) -> None:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        forbidden = {"$ref", "anyOf", "allOf", "oneOf", "title", "$defs", "const"} & set(node)
        assert not forbidden, (path, forbidden)
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        if "default" in node:
            assert node["default"] is not None, path
    assert schema["properties"]["metadata"] == {"type": "object"}


def _columns(plural: str) -> list[str]:
    """The columns `kubectl get` shows by default (priority 0)."""
    crd = next(c for c in crd_manifests() if c["spec"]["names"]["plural"] == plural)
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    return [c["name"] for c in columns if not c.get("priority")]


def test_printer_columns() -> None:
    assert _columns("nodeconfigs") == ["Matched", "Updated", "Failed", "Age"]
    assert _columns("plans") == [
        "Image",
        "Version",
        "Applying",
        "Failed",
        "Complete",
        "Halted",
        "Age",
    ]
    assert "Degraded" in _columns("renderednodeconfigs")


def test_scopes_groups_and_defaults() -> None:
    by_kind = {c["spec"]["names"]["kind"]: c for c in crd_manifests()}
    assert by_kind["Plan"]["spec"]["scope"] == "Namespaced"
    assert by_kind["Plan"]["spec"]["group"] == "upgrade.cattle.io"
    assert by_kind["NodeConfig"]["spec"]["scope"] == "Cluster"
    assert by_kind["RenderedNodeConfig"]["spec"]["scope"] == "Cluster"
    spec = by_kind["Plan"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["maxFailures"]["default"] == 1
    assert spec["properties"]["drain"]["properties"]["timeout"]["default"] == "15m"
    assert spec["required"] == ["upgrade"]
    nc = by_kind["NodeConfig"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    config = nc["properties"]["spec"]["properties"]["config"]
    assert config == {
        "description": config["description"],
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }


@pytest.mark.parametrize(
    "node",
    [
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        {"description": "no type at all"},
    ],
)
def test_non_structural_shapes_are_refused(node: dict[str, Any]) -> None:
    with pytest.raises(SchemaError, match="X"):
        _structural(node, {}, "X")


def test_regenerating_from_the_command_line(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["python -m k3os.apis", str(tmp_path)])
    runpy.run_module("k3os.apis", run_name="__main__")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(crd_files())
    assert str(tmp_path) in capsys.readouterr().out


def test_single_allof_wrappers_are_unwrapped() -> None:
    node = {"allOf": [{"type": "string"}], "description": "d"}
    assert _structural(node, {}, "X") == {"type": "string", "description": "d"}
