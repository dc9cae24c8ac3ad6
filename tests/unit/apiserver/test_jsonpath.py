"""The JSONPath subset of CRD printer columns."""

from __future__ import annotations

from typing import Any

import pytest

from k3os.apiserver.jsonpath import JSONPathError, compile_jsonpath

pytestmark = pytest.mark.unit

DOC = {
    "metadata": {"name": "w", "labels": {"app.kubernetes.io/name": "web"}},
    "spec": {
        "replicas": 3,
        "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
    },
    "status": {
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "Synced", "status": "False"},
        ],
        "ok": True,
    },
}


@pytest.mark.parametrize(
    ("path", "found"),
    [
        (".spec.replicas", [3]),
        ("{.spec.replicas}", [3]),
        ("$.spec.replicas", [3]),
        (".metadata.labels['app.kubernetes.io/name']", ["web"]),
        ('.metadata.labels["app.kubernetes.io/name"]', ["web"]),
        (".spec.ports[0].port", [80]),
        (".spec.ports[-1].name", ["https"]),
        (".spec.ports[5].name", []),
        (".spec.ports[*].port", [80, 443]),
        (".metadata.labels[*]", ["web"]),
        (".spec.replicas[*]", []),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type=='Synced')].status", ["False"]),
        ('.status.conditions[?(@.type!="Ready")].type', ["Synced"]),
        (".spec.ports[?(@.port==443)].name", ["https"]),
        (".spec.ports[?(@.missing==1)].name", []),
        ('.spec[?(@.a=="b")]', []),
        (".status.ok", [True]),
        (".status.missing", []),
        (".spec.replicas.deeper", []),
        (".spec.ports.name", []),
    ],
)
def test_find(path: str, found: list[Any]) -> None:
    compiled = compile_jsonpath(path)
    assert compiled.find(DOC) == found
    assert compiled.first(DOC) == (found[0] if found else None)


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("spec.replicas", "must start with '.' or '['"),
        ("..spec", "recursive descent"),
        (".", "expected a field name"),
        (".spec!", "unexpected '!'"),
        (".spec[0", "unterminated '['"),
        (".spec[1:2]", "unsupported expression [1:2]"),
        (".spec[?(@.a==nope)]", "unsupported filter value 'nope'"),
    ],
)
def test_errors(path: str, fragment: str) -> None:
    with pytest.raises(JSONPathError) as info:
        compile_jsonpath(path)
    assert fragment in str(info.value)
