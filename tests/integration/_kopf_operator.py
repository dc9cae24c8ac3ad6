"""A tiny kopf operator for tests/integration/test_kopf.py: it reconciles `Gadget` objects
(create, update, delete with kopf's finalizer) and reports through their status and a log
file named by $GADGET_LOG. Run as `kopf run --standalone -A _kopf_operator.py`."""

from __future__ import annotations

import os
from typing import Any

import kopf

GROUP, VERSION, PLURAL = "kopf.k3os.io", "v1", "gadgets"


def _note(line: str) -> None:
    with open(os.environ["GADGET_LOG"], "a") as out:
        out.write(line + "\n")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.watching.server_timeout = 60


@kopf.on.create(GROUP, VERSION, PLURAL)
def created(spec: Any, name: str, body: Any, patch: kopf.Patch, **_: Any) -> dict[str, Any]:
    kopf.info(body, reason="Created", message=f"gadget of size {spec.get('size', 0)}")
    patch.status["phase"] = "Created"
    patch.status["size"] = spec.get("size", 0)
    _note(f"created {name}")
    return {"seen": spec.get("size", 0)}  # kopf stores it in status.created


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec.size")
def resized(old: Any, new: Any, name: str, patch: kopf.Patch, **_: Any) -> None:
    patch.status["phase"] = "Resized"
    patch.status["size"] = new
    _note(f"resized {name} {old}->{new}")


@kopf.on.delete(GROUP, VERSION, PLURAL)
def deleted(name: str, **_: Any) -> None:
    _note(f"deleted {name}")
