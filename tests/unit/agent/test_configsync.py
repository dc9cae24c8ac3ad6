from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from k3os.agent.configsync import RENDERED, ConfigSync, apply_config, apply_status, local_config
from tests.unit.agent.fakes import FakeKube

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def rendered(
    hash_: str, config: dict[str, Any], status: dict[str, Any] | None = None
) -> dict[str, Any]:
    obj = {
        "apiVersion": "k3os.io/v1",
        "kind": "RenderedNodeConfig",
        "metadata": {"name": "n1"},
        "spec": {"nodeName": "n1", "config": config, "hash": hash_},
    }
    if status is not None:
        obj["status"] = status
    return obj


def test_apply_status_conditions() -> None:
    ok = apply_status({}, "h1", None, NOW)
    conds = {c["type"]: c for c in ok["conditions"]}
    assert ok["observedHash"] == "h1"
    assert (conds["Applied"]["status"], conds["Degraded"]["status"]) == ("True", "False")
    bad = apply_status(ok, "h2", "boom", NOW.replace(hour=9))
    conds = {c["type"]: c for c in bad["conditions"]}
    assert conds["Degraded"]["message"] == "boom"
    assert conds["Degraded"]["lastTransitionTime"] == "2026-01-02T09:04:05Z"
    again = apply_status(bad, "h2", "boom", NOW.replace(hour=11))
    assert {c["type"]: c for c in again["conditions"]}["Degraded"]["lastTransitionTime"] == (
        "2026-01-02T09:04:05Z"
    )


def test_apply_config_writes_and_reports_errors(tmp_path: Path) -> None:
    error, summary = apply_config({"hostname": "box"}, tmp_path)
    assert error is None and "written" in summary
    assert (tmp_path / "etc/hostname").read_text().strip() == "box"
    error, _ = apply_config({"k3os": {"sysctl": "nope"}}, tmp_path)
    assert error is not None and "sysctl" in error


def test_local_config(tmp_path: Path) -> None:
    path = tmp_path / "var/lib/rancher/k3os/config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("hostname: edge\n")
    assert local_config(tmp_path) == {"hostname": "edge"}
    path.write_text("hostname: [\n")
    assert local_config(tmp_path) is None


async def test_sync_applies_once_reports_and_publishes_local_config(tmp_path: Path) -> None:
    kube = FakeKube()
    events: list[tuple[str, str]] = []
    applied: list[bool] = []

    async def record(obj: Any, reason: str, message: str, type_: str) -> None:
        events.append((reason, type_))

    async def on_applied() -> None:
        applied.append(True)

    sync = ConfigSync(
        kube,  # type: ignore[arg-type]
        "n1",
        tmp_path / "root",
        tmp_path / "applied.json",
        record=record,
        on_applied=on_applied,
        now=lambda: NOW,
    )
    (tmp_path / "root").mkdir()
    obj = kube.put(RENDERED, rendered("h1", {"hostname": "one"}))
    sync.on_change("ADDED", {"metadata": {"name": "other"}}, None)
    assert not sync.wake.is_set()
    sync.on_change("ADDED", obj, None)
    assert sync.wake.is_set() and sync.latest == obj
    await sync.sync(obj)
    status = kube.peek(RENDERED, "n1")["status"]
    assert status["observedHash"] == "h1" and status["localConfig"] == {}
    assert sync.applies == 1 and applied == [True] and events == [("ConfigApplied", "Normal")]
    await sync.sync(kube.peek(RENDERED, "n1"))
    assert sync.applies == 1  # the same hash is not applied again
    bad = kube.put(RENDERED, rendered("h2", {"k3os": {"sysctl": 1}}, status))
    await sync.sync(bad)
    status = kube.peek(RENDERED, "n1")["status"]
    assert status["observedHash"] == "h2"
    assert events[-1] == ("ConfigFailed", "Warning")
    # A status lost (e.g. the object was re-created) is reported again without applying.
    fresh = kube.put(RENDERED, rendered("h2", {"k3os": {"sysctl": 1}}))
    await sync.sync(fresh)
    assert sync.applies == 2
    degraded = {c["type"]: c for c in kube.peek(RENDERED, "n1")["status"]["conditions"]}
    assert degraded["Degraded"]["status"] == "True"
    sync.on_change("DELETED", fresh, fresh)
    assert sync.latest is None
    del kube.objects[("renderednodeconfigs", "", "n1")]
    await sync.sync(rendered("h3", {}))  # gone meanwhile: nothing to report to


def test_an_unexpected_error_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*a: Any, **kw: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr("k3os.host.plan", explode)
    error, _ = apply_config({"hostname": "x"}, tmp_path)
    assert error == "internal error: RuntimeError: kaboom"


def test_secrets_stay_on_the_box() -> None:
    from k3os.agent.configsync import redact, with_local_secrets

    local = {"hostname": "a", "k3os": {"token": "K10x", "password": "p", "labels": {"a": "1"}}}
    assert redact(local) == {"hostname": "a", "k3os": {"labels": {"a": "1"}}}
    assert redact({"k3os": {"token": "t"}}) == {}
    assert redact({"hostname": "b"}) == {"hostname": "b"}
    rendered = {"hostname": "c", "k3os": {"password": "cluster"}}
    assert with_local_secrets(rendered, local) == {
        "hostname": "c",
        "k3os": {"password": "cluster", "token": "K10x"},
    }
    assert with_local_secrets({"hostname": "c"}, None) == {"hostname": "c"}
    assert with_local_secrets({}, {"k3os": {"labels": {}}}) == {}


async def test_sync_publishes_no_token_but_applies_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    path = root / "var/lib/rancher/k3os/config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("k3os:\n  token: K10secret::node:abc\n  server_url: https://s:6443\n")
    kube = FakeKube()
    sync = ConfigSync(kube, "n1", root, tmp_path / "applied.json", now=lambda: NOW)  # type: ignore[arg-type]
    obj = kube.put(RENDERED, rendered("h1", {"k3os": {"server_url": "https://s:6443"}}))
    await sync.sync(obj)
    status = kube.peek(RENDERED, "n1")["status"]
    assert status["localConfig"] == {"k3os": {"server_url": "https://s:6443"}}
    assert "K10secret" in (root / "etc/k3os/agent.yaml").read_text()
