"""The client package's public names, and resource paths."""

from __future__ import annotations

import k3os.client
from k3os.client.resources import CONFIG_MAPS, LEASES, NAMESPACES, ResourceType, object_key


def test_exported_names() -> None:
    assert set(k3os.client.__all__) == {
        "ApiStatusError", "Backoff", "Cache", "ClientError", "Clock", "ConflictError",
        "Controller", "FakeClock", "GoneError", "Informer", "InformerSet", "KeyedBackoff",
        "Kube", "LeaderElector", "LeaseSettings", "NotFoundError", "ObjectList",
        "PermanentError", "QueueShutDown", "ReconcileError", "ResourceType", "Retry",
        "SystemClock", "TemporaryError", "TransportError", "WatchEvent", "WorkQueue",
        "connect", "connect_kubeconfig", "object_key", "retry_for", "run_tasks",
    }  # fmt: skip
    for name in k3os.client.__all__:
        assert getattr(k3os.client, name) is not None


def test_paths() -> None:
    assert NAMESPACES.path() == "/api/v1/namespaces"
    assert NAMESPACES.path("ignored", "a b", "finalize") == "/api/v1/namespaces/a%20b/finalize"
    assert CONFIG_MAPS.path() == "/api/v1/configmaps"
    assert CONFIG_MAPS.path("ns", "x") == "/api/v1/namespaces/ns/configmaps/x"
    assert CONFIG_MAPS.path("ns", "", "status") == "/api/v1/namespaces/ns/configmaps"
    assert LEASES.path("kube-system", "l", "status") == (
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l/status"
    )
    assert (LEASES.api_version, NAMESPACES.api_version) == ("coordination.k8s.io/v1", "v1")
    assert (str(LEASES), str(NAMESPACES)) == ("leases.coordination.k8s.io", "namespaces")
    # verbs are not part of identity
    assert (
        ResourceType("", "v1", "namespaces", "Namespace", False, frozenset({"get"})) == NAMESPACES
    )


def test_object_key() -> None:
    assert object_key({"metadata": {"name": "a", "namespace": "n"}}) == ("n", "a")
    assert object_key({"metadata": {"name": "a"}}) == ("", "a")
    assert object_key({}) == ("", "")


def test_controller_manager_cli_errors(tmp_path: object) -> None:
    from click.testing import CliRunner

    from k3os.cli import cli as main

    runner = CliRunner()
    result = runner.invoke(main, ["controller-manager", "--help"])
    assert result.exit_code == 0 and "--node-monitor-grace-period" in result.output
    bad = tmp_path / "k.yaml"  # type: ignore[operator]
    bad.write_text("apiVersion: v1\nkind: Config\ncontexts: []\n")
    result = runner.invoke(main, ["controller-manager", "--kubeconfig", str(bad)])
    assert result.exit_code == 1 and "k.yaml" in result.output
    result = runner.invoke(main, ["server", "--help"])
    assert "--disable-controller-manager" in result.output and "--event-ttl" in result.output
    result = runner.invoke(main, ["server", "--event-ttl", "soon"])
    assert result.exit_code == 2 and "--event-ttl" in result.output
    result = runner.invoke(main, ["server", "--event-ttl", "0s"])
    assert result.exit_code == 2 and "must be positive" in result.output
