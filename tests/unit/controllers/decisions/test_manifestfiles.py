"""The manifests directory as data: files, parsing with lines, records, pruning."""

from __future__ import annotations

import pytest

from k3os.controllers.decisions.manifestfiles import (
    ManifestError,
    ObjectRef,
    active_files,
    dump_refs,
    load_refs,
    parse_manifest,
    record_name,
    to_prune,
)


def test_active_files() -> None:
    names = ["a.yaml", "b.yml", "c.json", "d.txt", ".hidden.yaml", "e.yaml", "e.yaml.skip"]
    files, skipped = active_files(names)
    assert files == ["a.yaml", "b.yml", "c.json"]
    assert skipped == {"e.yaml"}


def test_record_names_are_valid_and_distinct() -> None:
    a, b = record_name("My App.yaml"), record_name("my-app.yaml")
    assert a != b
    assert a.startswith("k3os-manifest-my-app-yaml-")
    long = record_name("x" * 300 + ".yaml")
    assert len(long) <= 63


def test_parse_lines_lists_and_empty_documents() -> None:
    text = (
        "---\n# only a comment\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n"
        "---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n"
        "- apiVersion: v1\n  kind: Secret\n"
        "  metadata: {name: c, annotations: {k3os.io/prune: 'true'}}\n"
    )
    docs = parse_manifest(text, "f.yaml")
    assert [(d.line, str(d.ref), d.ref.prune) for d in docs] == [
        (4, "ConfigMap x/a", False),
        (11, "ConfigMap b", False),
        (14, "Secret c", True),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [\n", "f.yaml:2: invalid YAML"),
        ("- 1\n", "f.yaml:1: expected an object (a mapping), got list"),
        ("kind: X\nmetadata: {name: n}\n", "f.yaml:1: X n: apiVersion: required"),
        ("apiVersion: v1\nmetadata: {name: n}\n", "f.yaml:1: object n: kind: required"),
        ("apiVersion: v1\nkind: X\nmetadata: 3\n", "f.yaml:1: X: metadata: required, a mapping"),
        ("apiVersion: v1\nkind: X\nmetadata: {}\n", "f.yaml:1: X: metadata.name: required"),
        (
            "apiVersion: v1\nkind: X\nmetadata: {name: n, namespace: 3}\n",
            "f.yaml:1: X 3/n: metadata.namespace: expected a string",
        ),
        ("apiVersion: v1\nkind: List\nitems: 3\n", "f.yaml:1: List: items: expected a list"),
        (
            "apiVersion: v1\nkind: List\nitems:\n- {kind: X}\n",
            "f.yaml:4: X: apiVersion: required",
        ),
        (
            "apiVersion: apps/v1\nkind: D\nmetadata: {name: n}\n---\n"
            "apiVersion: apps/v2\nkind: D\nmetadata: {name: n}\n",
            "f.yaml:5: D n: defined twice (first at line 1)",
        ),
    ],
)
def test_parse_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as e:
        parse_manifest(text, "f.yaml")
    assert str(e.value).startswith(message), str(e.value)


def test_prune_only_what_asked_and_left() -> None:
    keep = ObjectRef("v1", "ConfigMap", "default", "keep", prune=True)
    gone = ObjectRef("v1", "ConfigMap", "default", "gone", prune=True)
    quiet = ObjectRef("v1", "ConfigMap", "default", "quiet", prune=False)
    moved = ObjectRef("apps/v1", "Deployment", "default", "web", prune=True)
    before = [keep, gone, quiet, moved]
    after = [keep, ObjectRef("apps/v2", "Deployment", "default", "web")]
    assert to_prune(before, after) == [gone]
    assert to_prune(before, ()) == [keep, gone, moved]


def test_refs_round_trip() -> None:
    refs = [
        ObjectRef("v1", "ConfigMap", "default", "a", True),
        ObjectRef("v1", "Namespace", "", "x"),
    ]
    assert load_refs(dump_refs(refs)) == refs
    assert load_refs("") == []
    assert load_refs("not json") == []
    assert load_refs('[{"nope": 1}]') == []
