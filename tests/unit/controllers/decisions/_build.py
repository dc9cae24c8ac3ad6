"""Short builders for plans and nodes in the decision tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from k3os.apis import NodeUpgradeRecord, Plan
from k3os.apis.keys import done_label, node_record_key, retry_key
from k3os.controllers.decisions import NodeView, Taint

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
H = "cafe" * 14  # the plan's current hash
OLD = "dead" * 14
PLAN = "os"
OPT_IN = {"k3os.io/upgrade": "latest"}


def plan(
    *,
    status: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Plan:
    body: dict[str, Any] = {
        "version": "v2",
        "upgrade": {"image": "https://bundles.example/k3os-$(LATEST_VERSION).bundle"},
        "nodeSelector": {"matchExpressions": [{"key": "k3os.io/upgrade", "operator": "Exists"}]},
    }
    body.update(spec)
    return Plan.model_validate(
        {
            "metadata": {
                "name": PLAN,
                "namespace": "k3os-system",
                "uid": "plan-uid",
                "annotations": annotations or {},
            },
            "spec": body,
            "status": {"latestHash": H, **(status or {})},
        }
    )


def node(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    done: str | None = None,
    record: str | None = None,
    record_hash: str | None = H,
    since: timedelta | None = None,
    record_retry: str = "",
    retry: str | None = None,
    ready: bool = True,
    conditions: dict[str, str] | None = None,
    taints: tuple[Taint, ...] = (),
    unschedulable: bool = False,
    annotations: dict[str, str] | None = None,
) -> NodeView:
    """`record` is a phase (Applying/Complete/Failed); `since` is how long ago it was written."""
    all_labels = dict(OPT_IN if labels is None else labels)
    if done is not None:
        all_labels[done_label(PLAN)] = done
    notes = dict(annotations or {})
    if record is not None:
        rec = NodeUpgradeRecord(
            hash=record_hash,
            phase=record,  # type: ignore[arg-type]
            since=NOW - since if since is not None else None,
            retry=record_retry,
        )
        notes[node_record_key(PLAN)] = rec.encode()
    if retry is not None:
        notes[retry_key(PLAN)] = retry
    conds = {"Ready": "True" if ready else "False", **(conditions or {})}
    return NodeView(
        name=name,
        labels=all_labels,
        annotations=notes,
        conditions=conds,
        taints=taints,
        unschedulable=unschedulable,
        uid=f"uid-{name}",
    )
