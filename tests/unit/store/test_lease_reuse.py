"""The etcd driver's lease reuse window (kube-apiserver's: 5 % of the TTL, at most 60 s)."""

from __future__ import annotations

import pytest

from k3os.store import _etcd
from k3os.store._etcd import _LeaseReuse


def test_the_window_is_a_share_of_the_ttl_up_to_a_minute() -> None:
    assert _LeaseReuse.window(3600) == 60
    assert _LeaseReuse.window(600) == 30
    assert _LeaseReuse.window(20) == 1
    assert _LeaseReuse.window(19) == 0
    assert _LeaseReuse.window(86400) == 60


def test_a_lease_is_handed_out_within_its_window_only(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(_etcd.time, "monotonic", lambda: now[0])
    reuse = _LeaseReuse()
    assert reuse.reusable(3600) == 0
    reuse.granted(3600, 7, asked_at=1000.0)
    now[0] = 1059.5
    assert reuse.reusable(3600) == 7
    assert reuse.reusable(600) == 0  # per TTL
    now[0] = 1060.5  # past the window: the lease may now have less than 3600 s left
    assert reuse.reusable(3600) == 0
    reuse.granted(3600, 8, asked_at=1060.5)
    reuse.forget(3600)
    assert reuse.reusable(3600) == 0
    reuse.granted(10, 9, asked_at=1060.5)  # too short a TTL to share a lease
    assert reuse.reusable(10) == 0
