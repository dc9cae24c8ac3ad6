"""The manifests directory as data: which files count, what objects a file holds (with the
line each starts on), where a file's record lives, and which objects leave the cluster when
a file changes or goes.

Files: `*.yaml`, `*.yml` and `*.json` directly in the directory, not hidden; `NAME.skip`
beside `NAME` disables `NAME` (not applied, its objects left as they are), as in k3s.
Pruning is opt-in per object: only objects whose manifest carries the annotation
`k3os.io/prune: "true"` are deleted when they leave their file or their file is removed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import yaml

__all__ = [
    "PRUNE_ANNOTATION",
    "ManifestDoc",
    "ManifestError",
    "ObjectRef",
    "active_files",
    "checksum",
    "dump_refs",
    "load_refs",
    "parse_manifest",
    "record_name",
    "to_prune",
]

Obj = dict[str, Any]
PRUNE_ANNOTATION = "k3os.io/prune"
SUFFIXES = (".yaml", ".yml", ".json")
SKIP = ".skip"


class ManifestError(ValueError):
    """One line: `file:line: Kind namespace/name: why`."""

    def __init__(self, file: str, line: int, what: str, why: str) -> None:
        self.file, self.line, self.what, self.why = file, line, what, why
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {what + ': ' if what else ''}{why}")


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str
    prune: bool = False

    @property
    def identity(self) -> tuple[str, str, str, str]:
        group = self.api_version.rpartition("/")[0]  # the same object at any version
        return group, self.kind, self.namespace, self.name

    def __str__(self) -> str:
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {name}"


@dataclass(frozen=True)
class ManifestDoc:
    line: int  # 1-based line of the document's first token
    obj: Obj

    @property
    def ref(self) -> ObjectRef:
        meta = self.obj["metadata"]
        annotations = meta.get("annotations") or {}
        return ObjectRef(
            str(self.obj["apiVersion"]),
            str(self.obj["kind"]),
            str(meta.get("namespace") or ""),
            str(meta["name"]),
            str(annotations.get(PRUNE_ANNOTATION, "")).lower() == "true",
        )


def active_files(names: Iterable[str]) -> tuple[list[str], set[str]]:
    """(the manifest files to apply, sorted; the names disabled by a `.skip` beside them)."""
    present = set(names)
    manifests = {n for n in present if n.endswith(SUFFIXES) and not n.startswith(".")}
    skipped = {n for n in manifests if n + SKIP in present}
    return sorted(manifests - skipped), skipped


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_name(file: str) -> str:
    """A ConfigMap name for a file's record: readable, and distinct for distinct names."""
    slug = re.sub(r"[^a-z0-9-]+", "-", file.lower()).strip("-")[:40].strip("-")
    return f"k3os-manifest-{slug}-{checksum(file.encode())[:8]}"


def _describe(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    name = str(meta.get("name") or "")
    ns = str(meta.get("namespace") or "")
    kind = str(obj.get("kind") or "object")
    return f"{kind} {ns + '/' if ns else ''}{name}".strip()


def _check(obj: Any, file: str, line: int) -> Obj:
    if not isinstance(obj, dict):
        raise ManifestError(
            file, line, "", f"expected an object (a mapping), got {type(obj).__name__}"
        )
    what = _describe(obj)
    for field in ("apiVersion", "kind"):
        if not isinstance(obj.get(field), str) or not obj[field]:
            raise ManifestError(file, line, what, f"{field}: required, a non-empty string")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise ManifestError(file, line, what, "metadata: required, a mapping")
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ManifestError(file, line, what, "metadata.name: required, a non-empty string")
    if "namespace" in meta and not isinstance(meta["namespace"], str):
        raise ManifestError(file, line, what, "metadata.namespace: expected a string")
    return obj


def parse_manifest(text: str, file: str) -> list[ManifestDoc]:
    """The objects of a multi-document YAML (or JSON) file; `kind: List` is expanded.
    Empty documents are skipped. Raises ManifestError at the first problem."""
    loader = yaml.SafeLoader(text)
    docs: list[ManifestDoc] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            data = loader.construct_document(node)
            if data is None:
                continue
            if isinstance(data, dict) and data.get("kind") == "List" and "items" in data:
                items = data["items"]
                if not isinstance(items, list):
                    raise ManifestError(file, line, "List", "items: expected a list")
                item_nodes = _item_nodes(node)
                for i, item in enumerate(items):
                    at = item_nodes[i] if i < len(item_nodes) else line
                    docs.append(ManifestDoc(at, _check(item, file, at)))
                continue
            docs.append(ManifestDoc(line, _check(data, file, line)))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ManifestError(file, line, "", f"invalid YAML: {e.problem or e.context}") from e
    finally:
        loader.dispose()
    seen: dict[tuple[str, str, str, str], int] = {}
    for doc in docs:
        key = doc.ref.identity
        if key in seen:
            raise ManifestError(
                file, doc.line, str(doc.ref), f"defined twice (first at line {seen[key]})"
            )
        seen[key] = doc.line
    return docs


def _item_nodes(node: yaml.Node) -> list[int]:
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def to_prune(before: Iterable[ObjectRef], after: Iterable[ObjectRef]) -> list[ObjectRef]:
    """Objects a file held before and no longer does (all of them when the file is gone:
    pass `after=()`), that asked to be pruned."""
    kept = {ref.identity for ref in after}
    return [ref for ref in before if ref.prune and ref.identity not in kept]


def dump_refs(refs: Iterable[ObjectRef]) -> str:
    return json.dumps([asdict(ref) for ref in refs], sort_keys=True)


def load_refs(text: str) -> list[ObjectRef]:
    """The refs in a record; an unreadable record holds none (nothing is pruned on a guess)."""
    try:
        items = json.loads(text or "[]")
        return [ObjectRef(**item) for item in items]
    except (ValueError, TypeError):
        return []
