"""The per-node, per-plan record and the keys it lives under."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from k3os.apis import NodeUpgradeRecord, read_record, record_patch, retry_token
from k3os.apis.keys import done_label, node_record_key, retry_key


def test_record_round_trips_through_its_annotation() -> None:
    record = NodeUpgradeRecord(
        hash="h1", phase="Failed", since=datetime(2026, 1, 1, tzinfo=UTC), reason="R", retry="1"
    )
    patch = record_patch("k3os-latest", record)
    annotations = patch["metadata"]["annotations"]  # type: ignore[index]
    assert list(annotations) == ["status.upgrade.k3os.io/k3os-latest"]
    assert read_record(annotations, "k3os-latest") == record
    assert read_record(annotations, "other") is None


def test_a_garbled_record_reads_as_failed_at_an_unknown_hash() -> None:
    record = read_record({node_record_key("p"): "{not json"}, "p")
    assert record is not None
    assert record.phase == "Failed"
    assert record.hash is None
    assert record.reason == "UnreadableRecord"


def test_retry_token() -> None:
    assert retry_token({}, "p") == ""
    assert retry_token({retry_key("p"): "2"}, "p") == "2"


def test_keys() -> None:
    assert done_label("k3os-latest") == "plan.upgrade.cattle.io/k3os-latest"
    assert retry_key("p") == "retry.upgrade.k3os.io/p"


@pytest.mark.parametrize("name", ["", "-x", "x" * 64, "a/b"])
def test_plan_names_that_cannot_be_label_keys(name: str) -> None:
    with pytest.raises(ValueError, match="cannot form a label key"):
        done_label(name)
