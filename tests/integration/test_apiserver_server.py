"""`k3os server` as a process: TLS with client certificates, health, discovery and OpenAPI
over the wire, durable state across a SIGTERM restart, SQLite by default and etcd on
request."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration._apiserver import kubectl_env, running_server
from tests.unit.store.etcd_server import run_etcd

pytestmark = pytest.mark.integration

AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)


def test_serves_tls_health_discovery_and_stops_cleanly(tmp_path: Path, kubectl: Path) -> None:
    data = tmp_path / "data"
    with running_server(data) as server:
        assert (data / "server" / "db" / "state.db").exists()  # SQLite by default
        assert server.get("/readyz", client_cert=False) == (200, b"ok")
        assert server.get("/livez", client_cert=False)[0] == 200
        status, body = server.get("/api/v1/namespaces", client_cert=False)
        assert status == 401 and json.loads(body)["reason"] == "Unauthorized"
        status, body = server.get("/apis", accept=AGGREGATED)
        doc = json.loads(body)
        assert status == 200 and doc["kind"] == "APIGroupDiscoveryList"
        assert "policy" in [g["metadata"]["name"] for g in doc["items"]]
        status, body = server.get("/api/v1")
        resources = {r["name"] for r in json.loads(body)["resources"]}
        assert {"pods", "pods/eviction", "pods/status", "nodes/status"} <= resources
        proto_only = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        status, body = server.get("/openapi/v2", accept=proto_only)
        assert status == 200 and body.startswith(b"\n\x032.0")  # Document.swagger = "2.0"
        assert server.get("/openapi/v2", accept="application/vnd.kubernetes.protobuf")[0] == 406
        status, body = server.get("/openapi/v2", accept="application/json")
        assert status == 200 and json.loads(body)["swagger"] == "2.0"
        status, body = server.get("/openapi/v3")
        assert "apis/coordination.k8s.io/v1" in json.loads(body)["paths"]
        env = kubectl_env(server)
        subprocess.run(
            [str(kubectl), "create", "configmap", "kept", "--from-literal=a=b"],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        watcher = subprocess.Popen(
            [str(kubectl), "get", "configmaps", "-w", "--request-timeout=0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(1.0)  # let kubectl list and open its watch
            assert server.stop() == 0  # an open watch does not hold the stop up
        finally:
            watcher.kill()
            watcher.wait()
        assert "Traceback" not in server.log.read_text()
    with running_server(data) as again:
        out = subprocess.run(
            [str(kubectl), "get", "configmap", "kept", "-o", "jsonpath={.data.a}"],
            check=True, env=kubectl_env(again), capture_output=True, text=True,
        )  # fmt: skip
        assert out.stdout == "b"


def test_runs_on_etcd(tmp_path: Path, kubectl: Path) -> None:
    with (
        run_etcd(tmp_path) as etcd,
        running_server(tmp_path / "data", ["--datastore-endpoint", etcd.url]) as server,
    ):
        env = kubectl_env(server)
        subprocess.run(
            [str(kubectl), "create", "namespace", "on-etcd"], check=True, env=env,
            capture_output=True,
        )  # fmt: skip
        out = subprocess.run(
            [str(kubectl), "get", "namespaces", "-o", "name"],
            check=True, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert "namespace/on-etcd" in out.stdout.split()
        assert not (tmp_path / "data" / "server" / "db" / "state.db").exists()


def test_bad_datastore_url_is_one_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "k3os", "server", "--data-dir", str(tmp_path),
         "--https-listen-port", "0", "--datastore-endpoint", "nosuch://x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "datastore" in proc.stderr and "nosuch" in proc.stderr


def test_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "k3os", "server", "--data-dir", str(tmp_path),
             "--https-listen-port", str(port), "--disable-controller-manager", "--disable-agent"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode != 0
    assert "address already in use" in proc.stderr
