"""Real kubectl 1.36 against a real `k3os server` (TLS, client certificates, SQLite)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._apiserver import RunningServer, kubectl_env, running_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("kubectl") / "data") as s:
        yield s


class Kubectl:
    def __init__(self, binary: Path, server: RunningServer) -> None:
        self.binary = binary
        self.server = server

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.binary), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=kubectl_env(self.server, **env),
            timeout=60,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}{proc.stdout}")
        return proc

    def json(self, *args: str) -> dict[str, object]:
        out: dict[str, object] = json.loads(self.run(*args, "-o", "json").stdout)
        return out


@pytest.fixture(scope="module")
def k(kubectl: Path, server: RunningServer) -> Kubectl:
    return Kubectl(kubectl, server)


CONFIGMAP = textwrap.dedent(
    """\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
      namespace: apply-ns
      labels: {app: demo}
    data:
      mode: one
    """
)
POD = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
      namespace: apply-ns
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        ports: [{containerPort: 80, protocol: TCP}]
      - name: sidecar
        image: busybox:1.36
    """
)


def test_version_and_api_resources(k: Kubectl) -> None:
    out = k.run("version", "-o", "json").stdout
    assert json.loads(out)["serverVersion"]["minor"] == "36"
    resources = k.run("api-resources", "-o", "name").stdout.split()
    for name in ("pods", "nodes", "leases.coordination.k8s.io", "poddisruptionbudgets.policy",
                 "clusterroles.rbac.authorization.k8s.io", "events.events.k8s.io"):  # fmt: skip
        assert name in resources


def test_apply_client_side_then_server_side(k: Kubectl) -> None:
    k.run("create", "namespace", "apply-ns")
    assert "created" in k.run("apply", "-f", "-", stdin=CONFIGMAP + "---\n" + POD).stdout
    assert "unchanged" in k.run("apply", "-f", "-", stdin=CONFIGMAP).stdout
    changed = CONFIGMAP.replace("mode: one", "mode: two")
    assert "configured" in k.run("apply", "-f", "-", stdin=changed).stdout
    cm = k.json("-n", "apply-ns", "get", "configmap", "settings")
    assert cm["data"] == {"mode": "two"}
    # the sidecar is dropped by a strategic three-way merge keyed on container name
    one_container = POD.split("  - name: sidecar")[0]
    k.run("apply", "-f", "-", stdin=one_container)
    pod = k.json("-n", "apply-ns", "get", "pod", "web")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["app"]  # type: ignore[index]
    ssa = changed.replace("mode: two", "mode: three")
    out = k.run("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=ssa).stdout
    assert "serverside-applied" in out
    cm = k.json("-n", "apply-ns", "get", "configmap", "settings", "--show-managed-fields")
    managers = {m["manager"] for m in cm["metadata"]["managedFields"]}  # type: ignore[index]
    assert "kubectl" in managers


def test_server_side_apply_conflict_is_reported(k: Kubectl) -> None:
    k.run("create", "namespace", "ssa-ns")
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned, namespace: ssa-ns}\n"
    k.run("apply", "--server-side", "--field-manager=alice", "-f", "-",
          stdin=doc + "data: {k: a}\n")  # fmt: skip
    bad = k.run("apply", "--server-side", "--field-manager=bob", "-f", "-",
                stdin=doc + "data: {k: b}\n", check=False)  # fmt: skip
    assert bad.returncode != 0
    assert "conflict" in bad.stderr.lower()


def test_get_output_formats(k: Kubectl) -> None:
    k.run("create", "namespace", "fmt-ns")
    k.run("-n", "fmt-ns", "create", "configmap", "a", "--from-literal=x=1")
    # the controller manager adds kube-root-ca.crt to every namespace (soon, not at once)
    names = k.run("-n", "fmt-ns", "get", "cm", "-o", "name").stdout.split()
    assert [n for n in names if n != "configmap/kube-root-ca.crt"] == ["configmap/a"]
    assert "name: a" in k.run("-n", "fmt-ns", "get", "cm", "a", "-o", "yaml").stdout
    table = k.run("-n", "fmt-ns", "get", "cm", "a").stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "DATA"]
    assert table[1].split()[:2] == ["a", "1"]
    wide = k.run("get", "namespaces", "-o", "wide").stdout
    assert "fmt-ns" in wide and "Active" in wide


def test_label_annotate_and_the_three_patch_types(k: Kubectl) -> None:
    k.run("create", "namespace", "patch-ns")
    k.run("-n", "patch-ns", "create", "configmap", "p", "--from-literal=a=1")
    k.run("-n", "patch-ns", "label", "configmap", "p", "tier=back")
    k.run("-n", "patch-ns", "annotate", "configmap", "p", "note=hi")
    k.run("-n", "patch-ns", "patch", "configmap", "p", "--type=json",
          "-p", '[{"op": "add", "path": "/data/b", "value": "2"}]')  # fmt: skip
    k.run("-n", "patch-ns", "patch", "configmap", "p", "--type=merge", "-p", '{"data":{"c":"3"}}')
    k.run("-n", "patch-ns", "patch", "configmap", "p", "-p", '{"data":{"d":"4"}}')  # strategic
    cm = k.json("-n", "patch-ns", "get", "configmap", "p")
    assert cm["data"] == {"a": "1", "b": "2", "c": "3", "d": "4"}
    assert cm["metadata"]["labels"]["tier"] == "back"  # type: ignore[index]
    assert cm["metadata"]["annotations"]["note"] == "hi"  # type: ignore[index]
    assert k.run("-n", "patch-ns", "get", "cm", "-l", "tier=back", "-o", "name").stdout.strip()
    assert not k.run("-n", "patch-ns", "get", "cm", "-l", "tier in (front)", "-o", "name").stdout


def test_edit_through_kube_editor(k: Kubectl, tmp_path: Path) -> None:
    k.run("create", "namespace", "edit-ns")
    k.run("-n", "edit-ns", "create", "configmap", "e", "--from-literal=v=old")
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('v: old', 'v: new'))\n"
    )
    k.run("-n", "edit-ns", "edit", "configmap", "e", KUBE_EDITOR=f"{sys.executable} {editor}")
    assert k.json("-n", "edit-ns", "get", "configmap", "e")["data"] == {"v": "new"}


def test_watch_sees_changes(k: Kubectl) -> None:
    k.run("create", "namespace", "watch-ns")
    watcher = subprocess.Popen(
        [str(k.binary), "-n", "watch-ns", "get", "configmaps", "-w", "-o", "name",
         "--request-timeout=0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kubectl_env(k.server),
    )  # fmt: skip
    try:
        time.sleep(1.0)
        k.run("-n", "watch-ns", "create", "configmap", "w1", "--from-literal=a=b")
        k.run("-n", "watch-ns", "delete", "configmap", "w1")
        time.sleep(1.0)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    assert out.split().count("configmap/w1") >= 2


def test_describe_shows_events(k: Kubectl) -> None:
    k.run("create", "namespace", "desc-ns")
    k.run("-n", "desc-ns", "create", "configmap", "d", "--from-literal=a=b")
    cm = k.json("-n", "desc-ns", "get", "configmap", "d")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "d.1", "namespace": "desc-ns"},
        "involvedObject": {"kind": "ConfigMap", "name": "d", "namespace": "desc-ns",
                           "uid": cm["metadata"]["uid"], "apiVersion": "v1"},  # type: ignore[index]
        "reason": "Checked",
        "message": "looked at it",
        "type": "Normal",
        "source": {"component": "tester"},
        "count": 1,
    }  # fmt: skip
    k.run("apply", "-f", "-", stdin=json.dumps(event))
    out = k.run("-n", "desc-ns", "describe", "configmap", "d").stdout
    assert "Checked" in out and "looked at it" in out


def test_wait_for_condition_and_for_delete(k: Kubectl) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "wait-node"}}
    k.run("apply", "-f", "-", stdin=json.dumps(node))
    waiter = subprocess.Popen(
        [str(k.binary), "wait", "--for=condition=Ready", "node/wait-node", "--timeout=30s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kubectl_env(k.server),
    )  # fmt: skip
    time.sleep(1.0)
    status = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Up"}]}}
    k.run("patch", "node", "wait-node", "--subresource=status", "--type=merge",
          "-p", json.dumps(status))  # fmt: skip
    out, err = waiter.communicate(timeout=40)
    assert waiter.returncode == 0, err
    assert "condition met" in out
    k.run("create", "namespace", "wait-ns")
    k.run("-n", "wait-ns", "create", "configmap", "gone", "--from-literal=a=b")
    k.run("-n", "wait-ns", "delete", "configmap", "gone", "--wait=false")
    k.run("-n", "wait-ns", "wait", "--for=delete", "configmap/gone", "--timeout=20s")


def test_delete_with_finalizer_waits_for_its_removal(k: Kubectl) -> None:
    k.run("create", "namespace", "fin-ns")
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "held", "namespace": "fin-ns", "finalizers": ["example.com/x"]},
    }
    k.run("apply", "-f", "-", stdin=json.dumps(cm))  # fmt: skip
    k.run("-n", "fin-ns", "delete", "configmap", "held", "--wait=false")
    held = k.json("-n", "fin-ns", "get", "configmap", "held")
    assert held["metadata"]["deletionTimestamp"]  # type: ignore[index]
    k.run("-n", "fin-ns", "patch", "configmap", "held", "--type=json",
          "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]')  # fmt: skip
    gone = k.run("-n", "fin-ns", "get", "configmap", "held", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_explain_uses_the_openapi_documents(k: Kubectl) -> None:
    out = k.run("explain", "pods.spec.containers.ports").stdout
    assert "containerPort" in out and "ContainerPort" in out
    # forcing v2 makes kubectl fetch /openapi/v2 as gnostic protobuf
    v2 = k.run("explain", "leases.spec", "--output=plaintext-openapiv2").stdout
    assert "holderIdentity" in v2 and "coordination.k8s.io/v1" in v2


def test_validation_rejects_unknown_fields(k: Kubectl) -> None:
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v, namespace: default}\nbogus: 1\n"
    out = k.run("apply", "-f", "-", stdin=bad, check=False)
    assert out.returncode != 0
    assert 'unknown field "bogus"' in out.stderr


def test_cordon_drain_with_a_blocking_then_allowing_budget(k: Kubectl) -> None:
    k.run("create", "namespace", "drain-ns")
    k.run("apply", "-f", "-", stdin=json.dumps(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "drain-node"}}))  # fmt: skip
    ready = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    for i in range(2):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"app-{i}", "namespace": "drain-ns", "labels": {"app": "d"}},
            "spec": {"nodeName": "drain-node", "containers": [{"name": "c", "image": "x:1"}]},
        }
        k.run("apply", "-f", "-", stdin=json.dumps(pod))
        k.run("-n", "drain-ns", "patch", "pod", f"app-{i}", "--subresource=status",
              "--type=merge", "-p", json.dumps({"status": ready}))  # fmt: skip
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "keep-two", "namespace": "drain-ns"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "d"}}},
    }
    k.run("apply", "-f", "-", stdin=json.dumps(pdb))
    k.run("cordon", "drain-node")
    assert k.json("get", "node", "drain-node")["spec"] == {"unschedulable": True}
    blocked = k.run(
        "drain", "drain-node", "--force", "--grace-period=0", "--timeout=3s", check=False
    )
    assert blocked.returncode != 0
    assert "disruption budget" in (blocked.stderr + blocked.stdout)
    assert len(k.json("-n", "drain-ns", "get", "pods")["items"]) == 2  # type: ignore[arg-type]
    k.run("-n", "drain-ns", "patch", "pdb", "keep-two", "--type=merge",
          "-p", '{"spec": {"minAvailable": 0}}')  # fmt: skip
    k.run("drain", "drain-node", "--force", "--grace-period=0", "--timeout=30s")
    assert k.json("-n", "drain-ns", "get", "pods")["items"] == []
    k.run("uncordon", "drain-node")
    assert not k.json("get", "node", "drain-node").get("spec")


def test_typed_create_commands_send_protobuf(k: Kubectl) -> None:
    k.run("create", "namespace", "typed-ns")
    k.run("-n", "typed-ns", "create", "secret", "generic", "s", "--from-literal=p=q")
    k.run("-n", "typed-ns", "create", "serviceaccount", "robot")
    k.run("-n", "typed-ns", "create", "role", "reader", "--verb=get,list", "--resource=pods")
    k.run("-n", "typed-ns", "create", "rolebinding", "read", "--role=reader",
          "--serviceaccount=typed-ns:robot")  # fmt: skip
    k.run("create", "clusterrole", "node-reader", "--verb=get", "--resource=nodes")
    k.run("create", "clusterrolebinding", "read-nodes", "--clusterrole=node-reader",
          "--user=alice")  # fmt: skip
    assert k.json("-n", "typed-ns", "get", "secret", "s")["data"] == {"p": "cQ=="}
    role = k.json("-n", "typed-ns", "get", "role", "reader")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    binding = k.json("-n", "typed-ns", "get", "rolebinding", "read")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "robot",
                                    "namespace": "typed-ns"}]  # fmt: skip
    assert binding["roleRef"]["name"] == "reader"  # type: ignore[index]
    crb = k.json("get", "clusterrolebinding", "read-nodes")
    assert crb["subjects"][0]["name"] == "alice"  # type: ignore[index]
