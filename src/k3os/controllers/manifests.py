"""Auto-deploy of the manifests directory (`<data-dir>/server/manifests/`), as k3s does: every
YAML file there is applied at start and again whenever it changes, by server-side apply with
the field manager `k3os-deploy` (forced: the file is the source of truth), over the API like
any client.

The directory is polled (`stat` of each file every `interval` seconds, 2 s by default)
rather than watched with inotify: a directory of a few files costs microseconds to scan,
polling sees editors' rename-over-writes, directories re-created and network filesystems
alike, and needs no dependency in the server's footprint. A file is read again only when
its size or mtime changed, and applied only when its content's checksum did.

A file is all or nothing: it is parsed, every object is resolved through discovery and
dry-run applied, and only if all pass is any applied; otherwise the first problems are
reported (`file:line: Kind ns/name: why`, in the log and in the file's record) and nothing
of it is applied. Each file's record is a ConfigMap in kube-system
(`k3os-manifest-<name>-<hash>`, label `k3os.io/manifest-record`) holding the file name, the
checksum applied, the objects applied and the last error; it is how a removed file's
objects are found, across restarts and leader changes. Objects are deleted only when they
carry `k3os.io/prune: "true"` (see `decisions.manifestfiles`) and were applied by us.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k3os.client import ApiStatusError, ClientError, Kube, NotFoundError
from k3os.client.clock import Clock, SystemClock
from k3os.client.resources import CONFIG_MAPS, ResourceType
from k3os.controllers.decisions.manifestfiles import (
    ManifestDoc,
    ManifestError,
    ObjectRef,
    active_files,
    checksum,
    dump_refs,
    load_refs,
    parse_manifest,
    record_name,
    to_prune,
)

__all__ = ["FIELD_MANAGER", "RECORD_LABEL", "ManifestsController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FIELD_MANAGER = "k3os-deploy"
RECORD_LABEL = "k3os.io/manifest-record"
RECORD_NAMESPACE = "kube-system"
_FIRST = ("Namespace", "CustomResourceDefinition")
_APPLY = "application/apply-patch+yaml"
_MAX_ERRORS = 5


class _Transient(Exception):
    """The API could not answer now: try the file again on the next pass."""


RETRY_FAILED = 30.0  # a file the server refused is tried again this often (a CRD may come)


@dataclass
class _Seen:
    stat: tuple[int, int]  # (mtime_ns, size) when last read
    checksum: str  # content last applied (or found invalid)
    retry_at: float | None = None  # refused: when to try the same content again


class ManifestsController:
    def __init__(
        self,
        kube: Kube,
        directory: Path,
        *,
        interval: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        self.kube = kube
        self.directory = directory
        self.interval = interval
        self.clock: Clock = clock or SystemClock()
        self._seen: dict[str, _Seen] = {}
        self._discovery: dict[str, dict[str, ResourceType]] = {}

    async def run(self) -> None:
        log.info("deploying manifests from %s every %gs", self.directory, self.interval)
        while True:
            try:
                await self.sync_once()
            except ClientError as e:
                log.warning("manifests: %s; trying again", e)
            await self.clock.sleep(self.interval)

    async def sync_once(self) -> None:
        """One pass: apply new and changed files, prune after removed ones."""
        try:
            names = [e.name for e in os.scandir(self.directory) if e.is_file()]
        except FileNotFoundError:
            names = []
        files, skipped = active_files(names)
        self._discovery.clear()
        for name in files:
            try:
                await self._sync_file(name)
            except _Transient as e:
                log.info("manifests: %s: %s; trying again", name, e)
        records = await self.kube.list(
            CONFIG_MAPS, RECORD_NAMESPACE, label_selector=f"{RECORD_LABEL}=true"
        )
        for record in records.items:
            file = str((record.get("data") or {}).get("file") or "")
            if file and file not in files and file not in skipped:
                await self._remove_file(record)

    async def _sync_file(self, name: str) -> None:
        path = self.directory / name
        try:
            st = path.stat()
            stat = (st.st_mtime_ns, st.st_size)
            seen = self._seen.get(name)
            due = self._due(seen)
            if seen is not None and seen.stat == stat and not due:
                return
            data = path.read_bytes()
        except FileNotFoundError:
            return  # removed since the scan: the next pass prunes
        digest = checksum(data)
        if seen is not None and seen.checksum == digest and not due:
            self._seen[name] = _Seen(stat, digest, seen.retry_at)
            return
        record = await self._record(name)
        before = load_refs(str(((record or {}).get("data") or {}).get("objects") or ""))
        retry_at = None
        try:
            docs = parse_manifest(data.decode("utf-8", errors="replace"), name)
        except ManifestError as e:  # only a change of the file can mend it
            log.error("manifest not applied: %s", e)
            await self._write_record(name, digest, before, error=str(e))
        else:
            try:
                refs = await self._apply(name, docs)
            except ManifestError as e:
                log.error("manifest not applied: %s", e)
                await self._write_record(name, digest, before, error=str(e))
                retry_at = self.clock.monotonic() + RETRY_FAILED
            else:
                for ref in to_prune(before, refs):
                    await self._delete(ref)
                await self._write_record(name, digest, refs, error="")
                log.info("applied manifest %s (%d objects)", name, len(refs))
        self._seen[name] = _Seen(stat, digest, retry_at)

    def _due(self, seen: _Seen | None) -> bool:
        """Whether a refused file's unchanged content should be tried again now."""
        if seen is None or seen.retry_at is None:
            return False
        return self.clock.monotonic() >= seen.retry_at

    async def _apply(self, file: str, docs: list[ManifestDoc]) -> list[ObjectRef]:
        """Resolve and dry-run every object, then apply all (namespaces and CRDs first)."""
        crd_kinds = {_crd_kind(d.obj) for d in docs if d.obj["kind"] == "CustomResourceDefinition"}
        namespaces = {d.ref.name for d in docs if d.obj["kind"] == "Namespace"}
        errors: list[ManifestError] = []
        types: dict[int, ResourceType] = {}
        for i, doc in enumerate(docs):
            rt = await self._resolve(doc)
            group = str(doc.obj["apiVersion"]).rpartition("/")[0]
            if rt is None:
                if (group, doc.obj["kind"]) not in crd_kinds:
                    errors.append(
                        ManifestError(
                            file,
                            doc.line,
                            str(doc.ref),
                            f"the server serves no kind {doc.obj['kind']} in "
                            f"{doc.obj['apiVersion']}",
                        )
                    )
                continue  # a kind this file's CRD defines: resolved once that is applied
            types[i] = rt
            try:
                await self._send(rt, doc, dry_run=True)
            except ApiStatusError as e:
                if not _namespace_to_come(e, namespaces):
                    where = str(_placed(doc.ref, rt))
                    errors.append(ManifestError(file, doc.line, where, e.message))
            if len(errors) >= _MAX_ERRORS:
                break
        if errors:
            raise ManifestError(file, errors[0].line, errors[0].what, _joined(errors))
        order = sorted(range(len(docs)), key=lambda i: docs[i].obj["kind"] not in _FIRST)
        refs: list[ObjectRef] = []
        for i in order:
            doc = docs[i]
            rt = types.get(i) or await self._await_kind(file, doc)
            try:
                await self._send(rt, doc, dry_run=False)
            except ApiStatusError as e:
                if e.code >= 500 or e.code == 409:
                    raise _Transient(f"{doc.ref}: {e.message}") from e
                raise ManifestError(file, doc.line, str(_placed(doc.ref, rt)), e.message) from e
            refs.append(_placed(doc.ref, rt))
        return [refs[order.index(i)] for i in range(len(docs))]

    async def _send(self, rt: ResourceType, doc: ManifestDoc, *, dry_run: bool) -> None:
        meta = doc.obj["metadata"]
        namespace = str(meta.get("namespace") or "default") if rt.namespaced else ""
        body = dict(doc.obj)
        body["metadata"] = (
            {**meta, "namespace": namespace}
            if namespace
            else {k: v for k, v in meta.items() if k != "namespace"}
        )
        params = {"fieldManager": FIELD_MANAGER, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        path = rt.path(namespace, str(meta["name"]))
        try:
            await self.kube.request("PATCH", path, params=params, body=body, content_type=_APPLY)
        except ApiStatusError:
            raise
        except ClientError as e:
            raise _Transient(str(e)) from e

    async def _resolve(self, doc: ManifestDoc) -> ResourceType | None:
        api_version = str(doc.obj["apiVersion"])
        if api_version not in self._discovery:
            group, _, version = api_version.rpartition("/")
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            try:
                listing = await self.kube.request("GET", path)
            except NotFoundError:
                listing = {}
            except ClientError as e:
                raise _Transient(f"discovery of {api_version}: {e}") from e
            self._discovery[api_version] = {
                str(r["kind"]): ResourceType(
                    group, version, r["name"], r["kind"], bool(r.get("namespaced"))
                )
                for r in listing.get("resources") or []
                if "/" not in r["name"]
            }
        return self._discovery[api_version].get(str(doc.obj["kind"]))

    async def _await_kind(self, file: str, doc: ManifestDoc, within: float = 10.0) -> ResourceType:
        """A kind defined by a CRD of the same file: wait until discovery serves it."""
        deadline = self.clock.monotonic() + within
        while True:
            self._discovery.pop(str(doc.obj["apiVersion"]), None)
            rt = await self._resolve(doc)
            if rt is not None:
                return rt
            if self.clock.monotonic() >= deadline:
                raise _Transient(f"{doc.ref}: its CRD is not served yet")
            await self.clock.sleep(0.2)

    async def _delete(self, ref: ObjectRef) -> None:
        rt = await self._resolve(ManifestDoc(0, {"apiVersion": ref.api_version, "kind": ref.kind}))
        if rt is None:
            log.info("manifests: not pruning %s: %s is not served", ref, ref.api_version)
            return
        try:
            live = await self.kube.get(rt, ref.name, ref.namespace)
            managers = {m.get("manager") for m in live["metadata"].get("managedFields") or []}
            if FIELD_MANAGER not in managers:
                log.info("manifests: not pruning %s: not applied by %s", ref, FIELD_MANAGER)
                return
            await self.kube.delete(
                rt, ref.name, ref.namespace, propagation="Background", uid=live["metadata"]["uid"]
            )
            log.info("manifests: pruned %s", ref)
        except NotFoundError:
            pass
        except ApiStatusError as e:
            log.warning("manifests: could not prune %s: %s", ref, e.message)

    async def _remove_file(self, record: Obj) -> None:
        data = record.get("data") or {}
        file = str(data.get("file"))
        for ref in to_prune(load_refs(str(data.get("objects") or "")), ()):
            await self._delete(ref)
        meta = record["metadata"]
        with contextlib.suppress(NotFoundError):
            await self.kube.delete(CONFIG_MAPS, meta["name"], RECORD_NAMESPACE, uid=meta["uid"])
        self._seen.pop(file, None)
        log.info("manifest %s removed", file)

    async def _record(self, file: str) -> Obj | None:
        try:
            return await self.kube.get(CONFIG_MAPS, record_name(file), RECORD_NAMESPACE)
        except NotFoundError:
            return None

    async def _write_record(
        self, file: str, digest: str, refs: list[ObjectRef], *, error: str
    ) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": record_name(file),
                "namespace": RECORD_NAMESPACE,
                "labels": {RECORD_LABEL: "true"},
            },
            "data": {"file": file, "checksum": digest, "objects": dump_refs(refs), "error": error},
        }
        path = CONFIG_MAPS.path(RECORD_NAMESPACE, record_name(file))
        params = {"fieldManager": FIELD_MANAGER, "force": "true"}
        await self.kube.request("PATCH", path, params=params, body=body, content_type=_APPLY)


def _crd_kind(obj: Obj) -> tuple[str, str]:
    spec = obj.get("spec") or {}
    return str(spec.get("group") or ""), str((spec.get("names") or {}).get("kind") or "")


def _namespace_to_come(e: ApiStatusError, namespaces: set[str]) -> bool:
    """A dry run refused only because a namespace this same file creates is not there yet."""
    details = e.status.get("details") or {}
    return (
        e.code == 404 and details.get("kind") == "namespaces" and details.get("name") in namespaces
    )


def _placed(ref: ObjectRef, rt: ResourceType) -> ObjectRef:
    namespace = (ref.namespace or "default") if rt.namespaced else ""
    return ObjectRef(ref.api_version, ref.kind, namespace, ref.name, ref.prune)


def _joined(errors: list[ManifestError]) -> str:
    if len(errors) == 1:
        return errors[0].why
    rest = "; ".join(f"line {e.line}: {e.what}: {e.why}" for e in errors[1:])
    return f"{errors[0].why} (also {rest})"
