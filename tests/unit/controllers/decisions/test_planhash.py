"""The plan hash covers what runs and nothing else; channels and image references."""

from __future__ import annotations

from typing import Any

import pytest

from k3os.apis import Plan
from k3os.controllers.decisions import (
    ChannelError,
    MissingSecret,
    effective_image,
    hash_inputs,
    plan_hash,
    resolve_channel_version,
    resolved_version,
)

BASE: dict[str, Any] = {
    "metadata": {"name": "os", "namespace": "k3os-system"},
    "spec": {
        "version": "v1",
        "concurrency": 1,
        "serviceAccountName": "upgrader",
        "upgrade": {
            "image": "rancher/k3os",
            "command": ["k3os"],
            "args": ["upgrade"],
            "envs": [{"name": "A", "value": "1"}],
        },
        "secrets": [{"name": "creds", "path": "/run/creds"}],
    },
}
SECRETS = {"creds": {"token": "s3cret"}}


def _plan(**spec_changes: Any) -> Plan:
    doc = {**BASE, "spec": {**BASE["spec"], **spec_changes}}
    return Plan.model_validate(doc)


def _upgrade(**changes: Any) -> dict[str, Any]:
    return {**BASE["spec"]["upgrade"], **changes}


BASE_HASH = plan_hash(_plan(), "v1", SECRETS)


@pytest.mark.parametrize(
    ("label", "plan", "version", "secrets"),
    [
        ("image", _plan(upgrade=_upgrade(image="rancher/k3os-next")), "v1", SECRETS),
        ("command", _plan(upgrade=_upgrade(command=["k3os", "--debug"])), "v1", SECRETS),
        ("args", _plan(upgrade=_upgrade(args=["upgrade", "--kernel"])), "v1", SECRETS),
        ("env value", _plan(upgrade=_upgrade(envs=[{"name": "A", "value": "2"}])), "v1", SECRETS),
        ("env added", _plan(upgrade=_upgrade(envs=[])), "v1", SECRETS),
        (
            "volumes",
            _plan(upgrade=_upgrade(volumes=[{"name": "v", "source": "/a", "destination": "/b"}])),
            "v1",
            SECRETS,
        ),
        ("security", _plan(upgrade=_upgrade(securityContext={"privileged": True})), "v1", SECRETS),
        (
            "prepare",
            _plan(prepare={"image": "rancher/k3os", "command": ["k3os", "--version"]}),
            "v1",
            SECRETS,
        ),
        ("version", _plan(), "v2", SECRETS),
        ("service account", _plan(serviceAccountName="other"), "v1", SECRETS),
        ("secret content", _plan(), "v1", {"creds": {"token": "rotated"}}),
        ("secret key", _plan(), "v1", {"creds": {"token2": "s3cret"}}),
        ("secret bytes", _plan(), "v1", {"creds": {"token": b"s3cret\n"}}),
        ("secret path", _plan(secrets=[{"name": "creds", "path": "/elsewhere"}]), "v1", SECRETS),
    ],
)
def test_every_input_that_changes_what_runs_changes_the_hash(
    label: str, plan: Plan, version: str, secrets: dict[str, dict[str, Any]]
) -> None:
    assert plan_hash(plan, version, secrets) != BASE_HASH, label


@pytest.mark.parametrize(
    ("label", "plan"),
    [
        ("concurrency", _plan(concurrency=5)),
        ("drain", _plan(drain={"force": True})),
        ("window", _plan(window={"days": ["sat"]})),
        ("paused", _plan(paused=True)),
        ("maxFailures", _plan(maxFailures=3)),
        ("canary", _plan(canary={"nodes": 2})),
        ("selector", _plan(nodeSelector={"matchLabels": {"a": "b"}})),
        ("version field vs resolved", _plan(version="v9")),
    ],
)
def test_rollout_knobs_do_not_change_the_hash(label: str, plan: Plan) -> None:
    assert plan_hash(plan, "v1", SECRETS) == BASE_HASH, label


def test_secret_content_is_ignored_when_the_plan_says_so() -> None:
    plan = _plan(secrets=[{"name": "creds", "path": "/run/creds", "ignoreUpdates": True}])
    one = plan_hash(plan, "v1", {"creds": {"token": "a"}})
    assert one == plan_hash(plan, "v1", {"creds": {"token": "b"}})
    assert one == plan_hash(plan, "v1", {})


def test_a_missing_secret_is_a_precise_error() -> None:
    with pytest.raises(MissingSecret, match=r"secret 'creds' in spec\.secrets"):
        plan_hash(_plan(), "v1", {})


def test_digest_annotation_adds_fields_as_suc_does() -> None:
    doc = {
        **BASE,
        "metadata": {
            "name": "os",
            "annotations": {"upgrade.cattle.io/digest": "spec.concurrency, spec.missing.field"},
        },
    }
    one = Plan.model_validate(doc)
    two = Plan.model_validate({**doc, "spec": {**BASE["spec"], "concurrency": 3}})
    assert plan_hash(one, "v1", SECRETS) != plan_hash(two, "v1", SECRETS)
    assert hash_inputs(one, "v1", SECRETS)["annotated"] == {
        "spec.concurrency": 1,
        "spec.missing.field": None,
    }


def test_hash_fits_a_label_value_and_is_stable() -> None:
    assert len(BASE_HASH) == 56
    assert plan_hash(_plan(), "v1", {"creds": {"token": "s3cret"}}) == BASE_HASH


@pytest.mark.parametrize(
    ("location", "version"),
    [
        ("https://github.com/rancher/k3os/releases/tag/v0.22.2-k3s2r0", "v0.22.2-k3s2r0"),
        ("https://update.example/k3s/v1.30.4%2Bk3s1", "v1.30.4+k3s1"),
        ("https://update.example/channel/v1.2.3/", "v1.2.3"),
        ("/releases/tag/v2?from=latest", "v2"),
        ("v3", "v3"),
    ],
)
def test_channel_version_is_the_last_path_element(location: str, version: str) -> None:
    assert resolve_channel_version(location) == version


@pytest.mark.parametrize(
    "location", ["", "https://example.com", "https://example.com/", "https://x/a/%20b"]
)
def test_channel_without_a_version(location: str) -> None:
    with pytest.raises(ChannelError, match="channel redirect"):
        resolve_channel_version(location)


def test_version_wins_over_channel() -> None:
    assert resolved_version(_plan(version="v5", channel="https://c")) == "v5"
    channel_only = Plan.model_validate(
        {"spec": {"channel": "https://c/latest", "upgrade": {"image": "x"}}}
    )
    assert resolved_version(channel_only, "https://c/tag/v6") == "v6"
    with pytest.raises(ChannelError, match="no redirect"):
        resolved_version(channel_only)


@pytest.mark.parametrize(
    ("image", "version", "expected"),
    [
        ("rancher/k3os", "v0.22.2", "rancher/k3os:v0.22.2"),
        ("rancher/k3s-upgrade", "v1.30.4+k3s1", "rancher/k3s-upgrade:v1.30.4-k3s1"),
        ("registry:5000/k3os", "v1", "registry:5000/k3os:v1"),
        ("rancher/k3os:v0.21", "v0.22", "rancher/k3os:v0.21"),
        ("rancher/k3os@sha256:abc", "v1", "rancher/k3os@sha256:abc"),
        (
            "https://b.example/k3os-$(LATEST_VERSION).bundle",
            "v2",
            "https://b.example/k3os-v2.bundle",
        ),
        ("https://b.example/k3os.bundle", "v2", "https://b.example/k3os.bundle"),
        ("k3os-$(LATEST_VERSION)", "v2", "k3os-v2"),
    ],
)
def test_effective_image(image: str, version: str, expected: str) -> None:
    assert effective_image(image, version) == expected
