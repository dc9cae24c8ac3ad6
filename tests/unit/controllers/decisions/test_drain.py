"""Drain: which pods go and how, and what an expired drain does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from k3os.apis import DrainSpec
from k3os.controllers.decisions import DrainVerdict, PodView, drain_step, plan_drain

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _drain(**fields: Any) -> DrainSpec:
    return DrainSpec.model_validate(fields)


WEB = PodView("apps", "web", labels={"app": "web"})
DS = PodView("kube-system", "agent", controller_kind="DaemonSet")
MIRROR = PodView(
    "kube-system",
    "static",
    annotations={"kubernetes.io/config.mirror": "x"},
    controller_kind="Node",
)
BARE = PodView("apps", "bare", controller_kind=None)
CACHE = PodView("apps", "cache", has_emptydir=True)
DONE_JOB = PodView("apps", "job", controller_kind=None, phase="Succeeded", has_emptydir=True)
STUCK = PodView("apps", "stuck", deletion_timestamp=NOW - timedelta(minutes=10))


@pytest.mark.parametrize(
    ("pods", "drain", "remove", "skipped", "blockers"),
    [
        ([WEB], {}, ["apps/web"], [], []),
        ([DS], {}, [], ["kube-system/agent"], []),
        ([DS], {"ignoreDaemonSets": False}, [], [], ["kube-system/agent"]),
        ([MIRROR], {}, [], ["kube-system/static"], []),
        ([BARE], {}, [], [], ["apps/bare"]),
        ([BARE], {"force": True}, ["apps/bare"], [], []),
        ([CACHE], {}, [], [], ["apps/cache"]),
        ([CACHE], {"deleteEmptydirData": True}, ["apps/cache"], [], []),
        ([CACHE], {"deleteLocalData": True}, ["apps/cache"], [], []),
        ([DONE_JOB], {}, ["apps/job"], [], []),
        ([STUCK], {}, ["apps/stuck"], [], []),
        ([STUCK], {"skipWaitForDeleteTimeout": 60}, [], ["apps/stuck"], []),
        ([STUCK], {"skipWaitForDeleteTimeout": 3600}, ["apps/stuck"], [], []),
        ([WEB, BARE, DS], {"podSelector": {"matchLabels": {"app": "web"}}}, ["apps/web"], [], []),
    ],
)
def test_plan_drain(
    pods: list[PodView],
    drain: dict[str, Any],
    remove: list[str],
    skipped: list[str],
    blockers: list[str],
) -> None:
    plan = plan_drain(pods, _drain(**drain), NOW)
    assert [p.key for p in plan.remove] == remove
    assert [p.key for p, _ in plan.skipped] == skipped
    assert [p.key for p, _ in plan.blockers] == blockers
    assert plan.blocked is bool(blockers)


def test_blockers_name_the_flag_that_allows_them() -> None:
    plan = plan_drain([BARE, CACHE, DS], _drain(ignoreDaemonSets=False), NOW)
    reasons = dict((p.key, why) for p, why in plan.blockers)
    assert "drain.force" in reasons["apps/bare"]
    assert "drain.deleteEmptydirData" in reasons["apps/cache"]
    assert "drain.ignoreDaemonSets" in reasons["kube-system/agent"]


def test_eviction_unless_disabled() -> None:
    assert plan_drain([WEB], _drain(), NOW).method == "evict"
    assert plan_drain([WEB], _drain(disableEviction=True, gracePeriod=5), NOW).method == "delete"
    assert plan_drain([WEB], _drain(gracePeriod=5), NOW).grace_period == 5


@pytest.mark.parametrize(
    ("drain", "pods", "started_ago", "verdict", "reason", "requeue"),
    [
        ({}, [], timedelta(0), DrainVerdict.DONE, "", None),
        ({}, [WEB], timedelta(minutes=5), DrainVerdict.WAIT, "Draining", timedelta(minutes=10)),
        ({}, [WEB], timedelta(minutes=15), DrainVerdict.FAIL, "DrainTimeout", None),
        (
            {"onTimeout": "force"},
            [WEB],
            timedelta(minutes=15),
            DrainVerdict.FORCE,
            "DrainForced",
            None,
        ),
        ({"timeout": "0s"}, [WEB], timedelta(days=3), DrainVerdict.WAIT, "Draining", None),
        ({"timeout": None}, [WEB], timedelta(days=3), DrainVerdict.WAIT, "Draining", None),
        ({"timeout": "1m"}, [BARE], timedelta(0), DrainVerdict.FAIL, "DrainBlocked", None),
        (
            {"timeout": "1m", "onTimeout": "force"},
            [BARE],
            timedelta(0),
            DrainVerdict.FAIL,
            "DrainBlocked",
            None,
        ),
    ],
)
def test_drain_step(
    drain: dict[str, Any],
    pods: list[PodView],
    started_ago: timedelta,
    verdict: DrainVerdict,
    reason: str,
    requeue: timedelta | None,
) -> None:
    spec = _drain(**drain)
    step = drain_step(spec, plan_drain(pods, spec, NOW), NOW - started_ago, NOW)
    assert step.verdict is verdict
    assert step.reason == reason
    assert step.requeue_after == requeue


def test_timeout_message_names_what_is_left_and_the_policy() -> None:
    spec = _drain(timeout="2m")
    step = drain_step(spec, plan_drain([WEB], spec, NOW), NOW - timedelta(minutes=3), NOW)
    assert "apps/web" in step.message
    assert "onTimeout: fail" in step.message


def test_from_pod_reads_an_api_object() -> None:
    pod = PodView.from_pod(
        {
            "metadata": {
                "namespace": "apps",
                "name": "p",
                "ownerReferences": [
                    {"kind": "Other", "controller": False},
                    {"kind": "StatefulSet", "controller": True},
                ],
                "deletionTimestamp": "2026-03-02T11:50:00Z",
            },
            "spec": {"volumes": [{"name": "c", "emptyDir": {}}, {"name": "s", "secret": {}}]},
            "status": {"phase": "Running"},
        }
    )
    assert pod.controller_kind == "StatefulSet"
    assert pod.has_emptydir
    assert pod.deletion_timestamp == NOW - timedelta(minutes=10)
    bare = PodView.from_pod({"metadata": {"name": "b"}})
    assert bare.controller_kind is None
    assert not bare.has_emptydir
    assert bare.deletion_timestamp is None
