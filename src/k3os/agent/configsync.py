"""Applying the node's RenderedNodeConfig to its root, and reporting what happened.

The agent watches the one RenderedNodeConfig named after its node. When its `spec.hash`
differs from the hash it last applied (kept in `<data-dir>/agent/applied-config.json`, so a
restart does not apply again), it validates the config with the config engine, plans and
applies it through `k3os.host`, and writes `status.observedHash` with the conditions
`Applied` and `Degraded` (with the error); the engine runs where `ConfigWork` says (the
agent: in a child process). It also publishes the node's own config as
`status.localConfig`, the bottom layer of the next render (docs/fleet.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from k3os.agent.configwork import ConfigWork
from k3os.agent.settings import read_json, write_json
from k3os.client import ClientError, Kube, NotFoundError, ResourceType

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NOT_MANAGED = "NotManaged"
"""The reason of a config's `Applied` condition, and of an upgrade's outcome, on a node whose
agent has no k3os system to act on."""
RENDERED = ResourceType("k3os.io", "v1", "renderednodeconfigs", "RenderedNodeConfig", False)
APPLIED = "Applied"
DEGRADED = "Degraded"


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: list[Obj], new: Obj, now: datetime) -> list[Obj]:
    """Replace the condition of `new`'s type, keeping its transition time if unchanged."""
    out, placed = [], False
    for old in conditions:
        if old.get("type") != new["type"]:
            out.append(old)
            continue
        same = old.get("status") == new["status"]
        when = old.get("lastTransitionTime") if same else None
        out.append({**new, "lastTransitionTime": when or _stamp(now)})
        placed = True
    if not placed:
        out.append({**new, "lastTransitionTime": _stamp(now)})
    return out


def apply_status(
    status: Obj, applied_hash: str, error: str | None, now: datetime, reason: str = "ApplyFailed"
) -> Obj:
    """The status after trying to apply `applied_hash` (the shape of node_apply_status);
    `reason` says why `error` kept it from being applied."""
    if error is None:
        applied = {"type": APPLIED, "status": "True", "reason": "Applied", "message": ""}
        degraded = {"type": DEGRADED, "status": "False", "reason": "Applied", "message": ""}
    else:
        applied = {"type": APPLIED, "status": "False", "reason": reason, "message": error}
        degraded = {"type": DEGRADED, "status": "True", "reason": reason, "message": error}
    conditions = list(status.get("conditions") or [])
    conditions = set_condition(set_condition(conditions, applied, now), degraded, now)
    return {**status, "observedHash": applied_hash, "conditions": conditions}


def apply_config(config: Obj, root: Path) -> tuple[str | None, str]:
    """Validate and apply `config` on `root`: (error or None, a one-line summary)."""
    from k3os.config import ConfigError, validate
    from k3os.host import HostError, apply, plan

    try:
        node_config = validate(dict(config), {})
        changes = plan(node_config, root, "runtime")
        report = apply(changes)
    except (ConfigError, HostError, OSError) as e:
        return str(e), ""
    except Exception as e:  # never let one bad config stop the agent: report it
        log.exception("applying the config failed unexpectedly")
        return f"internal error: {type(e).__name__}: {e}", ""
    if not report.ok:
        return "; ".join(report.lines()[-3:]) or "apply failed", ""
    return None, f"{report.writes} file(s) written"


def local_config(root: Path) -> Obj | None:
    """The node's own config (every source on the box, merged), or None when unreadable."""
    from k3os.config import ConfigError, load_layers, merge_layers

    try:
        data, _ = merge_layers(load_layers(root, timeout=0.5))
    except ConfigError as e:
        log.warning("local config unreadable: %s", e)
        return None
    return data


SECRET_KEYS = ("token", "password", "wifi")
"""Keys under `k3os:` whose local values stay on the box: the join token, the password and
WiFi passphrases are not published in `status.localConfig`; the agent puts them back into
a rendered config that does not set them before applying it."""


def redact(local: Obj) -> Obj:
    """The local config as it may be published: without the box's secrets."""
    k3os = local.get("k3os")
    if not isinstance(k3os, dict) or not any(key in k3os for key in SECRET_KEYS):
        return local
    kept = {k: v for k, v in k3os.items() if k not in SECRET_KEYS}
    out = {k: v for k, v in local.items() if k != "k3os"}
    if kept:
        out["k3os"] = kept
    return out


def with_local_secrets(config: Obj, local: Obj | None) -> Obj:
    """`config` with the box's own secret values where the cluster sets none."""
    secrets = (local or {}).get("k3os")
    if not isinstance(secrets, dict):
        return config
    k3os = dict(config.get("k3os") or {})
    for key in SECRET_KEYS:
        if key in secrets and key not in k3os:
            k3os[key] = secrets[key]
    return {**config, "k3os": k3os} if k3os else config


Recorder = Callable[[Obj, str, str, str], Awaitable[None]]


class ConfigSync:
    """Applies each new rendered config to `root`, and reports it. Without a root (an agent
    that manages no system: see `k3os.agent.runner`) nothing is applied, and each new hash
    is reported not applied, with `unmanaged` as the reason's message, so the NodeConfigs
    that match the node say so rather than wait for it."""

    def __init__(
        self,
        kube: Kube,
        node_name: str,
        root: Path | None,
        state_file: Path,
        *,
        record: Recorder | None = None,
        on_applied: Callable[[], Awaitable[None]] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        work: ConfigWork | None = None,
        unmanaged: str = "",
    ) -> None:
        self.kube = kube
        self.work = work or ConfigWork()
        self.node_name = node_name
        self.root = root
        self.unmanaged = unmanaged
        self.state_file = state_file
        self.record = record
        self.on_applied = on_applied
        self.now = now
        self.wake = asyncio.Event()
        self.latest: Obj | None = None
        self.applies = 0

    @property
    def applied_hash(self) -> str | None:
        doc = read_json(self.state_file) or {}
        value = doc.get("hash")
        return str(value) if value else None

    def on_change(self, change: str, obj: Obj, old: Obj | None) -> None:
        """Informer handler: remember the newest object and wake the worker."""
        if (obj.get("metadata") or {}).get("name") != self.node_name:
            return
        self.latest = None if change == "DELETED" else obj
        self.wake.set()

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            obj = self.latest
            if obj is None:
                continue
            try:
                await self.sync(obj)
            except ClientError as e:
                log.info("reporting config status failed (%s); will retry", e)
                await asyncio.sleep(1.0)
                self.wake.set()

    async def sync(self, obj: Obj) -> None:
        if self.root is None:
            await self._sync_unmanaged(obj)
            return
        spec = obj.get("spec") or {}
        status = dict(obj.get("status") or {})
        wanted = str(spec.get("hash") or "")
        update: Obj | None = None
        local = await self.work.local_config(self.root)
        if wanted and wanted != self.applied_hash:
            config = with_local_secrets(dict(spec.get("config") or {}), local)
            error, summary = await self.work.apply_config(config, self.root)
            self.applies += 1
            write_json(self.state_file, {"hash": wanted, "error": error})
            update = apply_status(status, wanted, error, self.now())
            if error is None:
                log.info("applied config %s (%s)", wanted[:12], summary)
                await self._event(obj, "ConfigApplied", f"applied config {wanted[:12]}: {summary}")
                if self.on_applied is not None:
                    await self.on_applied()
            else:
                log.warning("config %s failed: %s", wanted[:12], error)
                await self._event(obj, "ConfigFailed", f"config {wanted[:12]}: {error}", "Warning")
        elif wanted and status.get("observedHash") != wanted:
            doc = read_json(self.state_file) or {}
            update = apply_status(status, wanted, doc.get("error"), self.now())
        if local is not None and status.get("localConfig") != redact(local):
            update = {**(update or status), "localConfig": redact(local)}
        if update is not None:
            await self._write_status(update)

    async def _sync_unmanaged(self, obj: Obj) -> None:
        """Report a new hash as not applied, once: nothing is kept on disk, so an agent
        started later with a root applies it."""
        wanted = str((obj.get("spec") or {}).get("hash") or "")
        status = dict(obj.get("status") or {})
        applied: Obj = next(
            (c for c in status.get("conditions") or [] if c.get("type") == APPLIED), {}
        )
        if not wanted or (
            status.get("observedHash") == wanted and applied.get("reason") == NOT_MANAGED
        ):
            return
        why = self.unmanaged or "this agent manages no system"
        log.warning("config %s not applied: %s", wanted[:12], why)
        await self._write_status(apply_status(status, wanted, why, self.now(), NOT_MANAGED))
        await self._event(obj, "ConfigFailed", f"config {wanted[:12]}: {NOT_MANAGED}: {why}",
                          "Warning")  # fmt: skip

    async def _write_status(self, status: Obj) -> None:
        patch = {"status": status}
        try:
            await self.kube.patch(RENDERED, self.node_name, patch, subresource="status")
        except NotFoundError:
            log.debug("rendered config %s is gone", self.node_name)

    async def _event(self, obj: Obj, reason: str, message: str, type_: str = "Normal") -> None:
        if self.record is not None:
            await self.record(obj, reason, message, type_)
