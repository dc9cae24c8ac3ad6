"""Where a node stands in one Plan, kept as a JSON annotation on the Node.

`status.upgrade.k3os.io/<plan>` holds the hash the node last started, whether it is
applying, complete or failed, since when, and the retry token it consumed. A failed node
is tried again only when the plan's hash changes or an operator sets
`retry.upgrade.k3os.io/<plan>` to a value the record has not seen: never in a hot loop.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from k3os.apis.keys import node_record_key, retry_key
from k3os.apis.meta import ApiModel

Phase = Literal["Applying", "Complete", "Failed"]


class NodeUpgradeRecord(ApiModel):
    hash: str | None = None
    """None when the annotation was unreadable: treated as failed at any hash."""
    phase: Phase
    since: datetime | None = None
    reason: str = ""
    message: str = ""
    retry: str = ""
    """The retry annotation's value when this record was written."""

    def encode(self) -> str:
        return json.dumps(self.wire(), sort_keys=True, separators=(",", ":"))


def read_record(annotations: dict[str, str], plan_name: str) -> NodeUpgradeRecord | None:
    """The node's record for `plan_name`, or None. A garbled record reads as failed."""
    raw = annotations.get(node_record_key(plan_name))
    if raw is None:
        return None
    try:
        return NodeUpgradeRecord.model_validate_json(raw)
    except ValidationError:
        return NodeUpgradeRecord(
            hash=None,
            phase="Failed",
            reason="UnreadableRecord",
            message=f"annotation {node_record_key(plan_name)} is not a valid record",
        )


def record_of(annotations: Mapping[str, str], plan_name: str) -> NodeUpgradeRecord | None:
    """`read_record`, parsed once per distinct annotation value: for the controllers, which
    read every node's record on every pass. The record returned is shared: only read it."""
    raw = annotations.get(node_record_key(plan_name))
    return None if raw is None else _parsed_record(plan_name, raw)


@functools.lru_cache(maxsize=16384)
def _parsed_record(plan_name: str, raw: str) -> NodeUpgradeRecord | None:
    return read_record({node_record_key(plan_name): raw}, plan_name)


def retry_token(annotations: dict[str, str], plan_name: str) -> str:
    return annotations.get(retry_key(plan_name), "")


def record_patch(plan_name: str, record: NodeUpgradeRecord) -> dict[str, object]:
    """A JSON merge patch for the Node that stores `record`."""
    return {"metadata": {"annotations": {node_record_key(plan_name): record.encode()}}}
