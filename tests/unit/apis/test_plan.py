"""Plans in system-upgrade-controller's shape parse unchanged; ours default to safe values."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from k3os.apis import Plan, TimeWindow, load_objects
from k3os.apis.plan import parse_clock, parse_weekday

# A plan written the way k3OS and SUC users write them: every field SUC knows.
SUC_PLAN = """
apiVersion: upgrade.cattle.io/v1
kind: Plan
metadata:
  name: k3s-server
  namespace: system-upgrade
  labels: {k3s-upgrade: server}
  annotations: {upgrade.cattle.io/digest: spec.concurrency}
spec:
  concurrency: 2
  version: v1.30.4+k3s1
  nodeSelector:
    matchExpressions:
    - {key: node-role.kubernetes.io/control-plane, operator: In, values: ["true"]}
  serviceAccountName: system-upgrade
  exclusive: true
  window:
    days: [monday, tue, "3"]
    startTime: "19:00"
    endTime: "21:30"
    timeZone: Europe/Berlin
  cordon: true
  drain:
    timeout: 10m
    gracePeriod: 30
    deleteEmptydirData: true
    ignoreDaemonSets: true
    force: true
    disableEviction: false
    skipWaitForDeleteTimeout: 60
    podSelector:
      matchLabels: {app: web}
  postCompleteDelay: 2m
  jobActiveDeadlineSecs: 900
  postCompleteLabels: {k3s.io/version: $(LATEST_VERSION)}
  priorityClassName: system-node-critical
  imagePullSecrets: [{name: regcred}]
  tolerations:
  - {key: CriticalAddonsOnly, operator: Exists}
  - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}
  secrets:
  - {name: proxy, path: /host/run/proxy, ignoreUpdates: false, defaultMode: 420}
  prepare:
    image: rancher/k3s-upgrade
    args: [prepare, k3s-server]
  upgrade:
    image: rancher/k3s-upgrade
    command: [upgrade]
    args: [--debug]
    envs:
    - {name: HTTP_PROXY, value: "http://proxy:3128"}
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: token, key: value}}
    envFrom:
    - configMapRef: {name: upgrade-env}
    volumes:
    - {name: log, source: /var/log, destination: /host/var/log}
    securityContext: {privileged: true, capabilities: {add: [CAP_SYS_BOOT]}}
status:
  latestVersion: v1.30.4-k3s1
  latestHash: abc
  applying: [node-1]
  conditions:
  - {type: Complete, status: "False", reason: SyncJob, lastTransitionTime: "2026-01-01T00:00:00Z"}
"""


def test_a_full_suc_plan_parses_and_round_trips() -> None:
    (plan,) = load_objects(SUC_PLAN, file="suc.yaml")
    assert isinstance(plan, Plan)
    spec = plan.spec
    assert spec.concurrency == 2
    assert spec.drain is not None
    assert spec.drain.timeout == timedelta(minutes=10)
    assert spec.drain.delete_emptydir is True
    assert spec.drain.on_timeout == "fail"
    assert spec.window is not None
    assert spec.window.weekdays() == {0, 1, 2}
    assert spec.post_complete_delay == timedelta(minutes=2)
    assert spec.upgrade.envs[1].value_from == {"secretKeyRef": {"name": "token", "key": "value"}}
    assert spec.cordons
    assert plan.status.applying == ["node-1"]
    wire = plan.wire()
    assert wire["spec"]["drain"]["timeout"] == "10m"
    assert wire["spec"]["upgrade"]["envFrom"] == [{"configMapRef": {"name": "upgrade-env"}}]
    assert Plan.model_validate(wire) == plan


def test_our_fields_default_to_the_safe_choice() -> None:
    plan = Plan.model_validate(
        {"metadata": {"name": "p"}, "spec": {"version": "v1", "upgrade": {"image": "x"}}}
    )
    spec = plan.spec
    assert spec.concurrency == 1
    assert spec.max_failures == 1
    assert spec.paused is False
    assert spec.canary is None
    assert spec.health_gate.ready is True
    assert spec.health_gate.timeout is None
    assert spec.node_selector is None
    assert spec.cordons is False
    drained = Plan.model_validate(
        {"spec": {"version": "v1", "upgrade": {"image": "x"}, "drain": {}}}
    ).spec
    assert drained.drain is not None
    assert drained.drain.timeout == timedelta(minutes=15)
    assert drained.drain.ignore_daemon_sets is True
    assert drained.drain.on_timeout == "fail"
    assert drained.cordons is True


def _spec(**extra: Any) -> dict[str, Any]:
    return {"spec": {"version": "v1", "upgrade": {"image": "x"}, **extra}}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"spec": {"upgrade": {"image": "x"}}}, "set spec.version or spec.channel"),
        (_spec(maxFailures=0), "greater than or equal to 1"),
        (_spec(concurrency=-1), "greater than or equal to 0"),
        (_spec(drain={"deleteLocalData": True, "deleteEmptydirData": True}), "not both"),
        (_spec(drain={"onTimeout": "ignore"}), "'fail' or 'force'"),
        (_spec(drain={"timeout": "soon"}), "expected a duration"),
        (_spec(canary={"nodes": 0}), "greater than or equal to 1"),
        (_spec(window={"days": ["funday"]}), "expected a day of the week"),
        (_spec(window={"startTime": "25:00"}), "within 00:00-23:59:59"),
        (_spec(window={"startTime": "noon"}), "expected a time of day"),
        (_spec(window={"timeZone": "Mars/Olympus"}), "expected an IANA time zone"),
        (_spec(concurrencyy=2), "concurrencyy"),
        ({"spec": {"version": "v1", "upgrade": {"image": ""}}}, "at least 1 character"),
    ],
)
def test_bad_plans_are_refused_precisely(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Plan.model_validate(doc)


@pytest.mark.parametrize(
    ("text", "weekday"),
    [("monday", 0), ("Mon", 0), ("mo", 0), ("SUNDAY", 6), ("su", 6), ("0", 6), ("1", 0), ("6", 5)],
)
def test_weekdays(text: str, weekday: int) -> None:
    assert parse_weekday(text) == weekday


@pytest.mark.parametrize("text", ["m", "7", "mond", "x", ""])
def test_bad_weekdays(text: str) -> None:
    with pytest.raises(ValueError, match="day of the week"):
        parse_weekday(text)


@pytest.mark.parametrize(
    ("text", "clock"),
    [
        ("00:00", time(0, 0)),
        ("7:05", time(7, 5)),
        ("23:59:59", time(23, 59, 59)),
        ("12:00 AM", time(0, 0)),
        ("12:30pm", time(12, 30)),
        ("3:04 PM", time(15, 4)),
    ],
)
def test_clock_times(text: str, clock: time) -> None:
    assert parse_clock(text) == clock


@pytest.mark.parametrize("text", ["13:00 PM", "0:00 AM", "12:60", "9"])
def test_bad_clock_times(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_clock(text)


def test_window_without_days_means_every_day() -> None:
    assert TimeWindow().weekdays() == frozenset(range(7))
