"""What `k3os status` reports: each slot's version, the booted one, a trial, the last failure."""

from __future__ import annotations

import dataclasses
from typing import Any

from k3os.image.selection import select_boot
from k3os.image.state import StateArea


def _slot(state: StateArea, version: str | None) -> dict[str, Any] | None:
    if version is None:
        return None
    manifest = state.manifest(version)
    return {
        "version": version,
        "complete": state.is_complete(version),
        "arch": manifest.arch if manifest else None,
        "k3os_version": manifest.k3os_version if manifest else None,
    }


def gather(state: StateArea) -> dict[str, Any]:
    state.require()
    view = state.view()
    record = view.record
    next_boot = select_boot(view, "current")
    return {
        "state": str(state.path),
        "current": _slot(state, view.current),
        "previous": _slot(state, view.previous),
        "booted": record.booted,
        "trial": dataclasses.asdict(record.trial) if record.trial else None,
        "last_failure": dataclasses.asdict(record.last_failure) if record.last_failure else None,
        "versions": state.versions(),
        "next_boot": next_boot.version,
    }


def render_text(info: dict[str, Any]) -> str:
    def slot(name: str) -> str:
        s = info[name]
        if s is None:
            return f"{name + ':':<14}none"
        mark = "" if s["complete"] else "  (INCOMPLETE)"
        return f"{name + ':':<14}{s['version']}  arch={s['arch']} k3os={s['k3os_version']}{mark}"

    lines = [f"{'state:':<14}{info['state']}", slot("current"), slot("previous")]
    lines.append(f"{'booted:':<14}{info['booted'] or 'unknown'}")
    trial = info["trial"]
    if trial:
        text = f"{trial['version']} ({trial['attempts_left']} boot attempt(s) left"
        text += f", falls back to {trial['fallback'] or 'nothing'})"
        if trial["failure"]:
            text += f" FAILED: {trial['failure']}"
        lines.append(f"{'trial:':<14}{text}")
    else:
        lines.append(f"{'trial:':<14}none")
    failure = info["last_failure"]
    if failure:
        lines.append(
            f"{'last failure:':<14}{failure['version']} at {failure['at']}: {failure['reason']}"
        )
    else:
        lines.append(f"{'last failure:':<14}none")
    lines.append(f"{'on disk:':<14}{', '.join(info['versions']) or 'none'}")
    lines.append(f"{'next boot:':<14}{info['next_boot'] or 'recovery shell'}")
    return "\n".join(lines)
