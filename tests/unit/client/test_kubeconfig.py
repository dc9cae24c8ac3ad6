"""Kubeconfig reading (precise errors), the TLS context and the request credentials built from
one, and lightkube's typed client on the same configuration."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from k3os.client import Kube, connect_kubeconfig
from k3os.client.kubeconfig import (
    ClientConfig,
    Cluster,
    ExecPlugin,
    KubeconfigError,
    User,
    client_auth,
    config_from_dict,
    load_kubeconfig,
    ssl_context,
)
from k3os.client.resources import CONFIG_MAPS
from k3os.security.pki import KeyPair, issue, key_to_pem, make_ca


@pytest.fixture(scope="module")
def pems() -> dict[str, bytes]:
    ca_cert, ca_key = make_ca("test-ca")
    ca = KeyPair(ca_cert, ca_key, Path("ca.crt"), Path("ca.key"))
    cert, key = issue(ca, "someone", client=True)
    assert key is not None
    return {"ca": ca.cert_pem, "cert": KeyPair(cert, key, ca.cert_path, ca.key_path).cert_pem,
            "key": key_to_pem(key)}  # fmt: skip


def kubeconfig(cluster: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "k", "cluster": cluster}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "namespace": "apps"}}],
        "users": [],
    }
    if user is not None:
        doc["users"] = [{"name": "u", "user": user}]
        doc["contexts"][0]["context"]["user"] = "u"
    return doc


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_reads_a_context_with_files_relative_to_the_kubeconfig(
    tmp_path: Path, pems: dict[str, bytes]
) -> None:
    (tmp_path / "ca.crt").write_bytes(pems["ca"])
    (tmp_path / "me.crt").write_bytes(pems["cert"])
    (tmp_path / "me.key").write_bytes(pems["key"])
    path = tmp_path / "kubeconfig.yaml"
    doc = kubeconfig(
        {"server": "https://127.0.0.1:6443", "certificate-authority": "ca.crt"},
        {"client-certificate": "me.crt", "client-key": "me.key"},
    )
    path.write_text(yaml.safe_dump(doc))
    config = load_kubeconfig(path)
    assert (config.context_name, config.namespace, config.fname) == ("c", "apps", path)
    assert config.cluster.certificate_auth == "ca.crt"
    assert config.abs_file("ca.crt") == tmp_path / "ca.crt"
    assert config.abs_file("/etc/x") == Path("/etc/x")
    ctx = ssl_context(config)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert len(ctx.get_ca_certs()) == 1
    assert client_auth(config.user or User()) is None  # the certificate is in the TLS context
    assert connect_kubeconfig(path).server == "https://127.0.0.1:6443"


def test_inline_data_and_insecure(pems: dict[str, bytes]) -> None:
    doc = kubeconfig(
        {"server": "https://h:1", "certificate-authority-data": b64(pems["ca"])},
        {"client-certificate-data": b64(pems["cert"]), "client-key-data": b64(pems["key"])},
    )
    config = config_from_dict(doc, None)
    assert len(ssl_context(config).get_ca_certs()) == 1
    insecure = config_from_dict(
        kubeconfig({"server": "https://h:1", "insecure-skip-tls-verify": True}, {}), None
    )
    assert ssl_context(insecure).verify_mode == ssl.CERT_NONE
    system = ssl_context(config_from_dict(kubeconfig({"server": "https://h:1"}, {}), None))
    assert system.verify_mode == ssl.CERT_REQUIRED


def test_unusable_tls_material_is_an_error(tmp_path: Path, pems: dict[str, bytes]) -> None:
    config = ClientConfig(Cluster("https://h:1", certificate_auth_data="not base64!"), User())
    with pytest.raises(ValueError, match="not base64"):
        ssl_context(config)
    no_key = ClientConfig(Cluster("https://h:1"), User(client_cert_data=b64(pems["cert"])))
    with pytest.raises(ValueError, match="needs its key"):
        ssl_context(no_key)
    relative = ClientConfig(Cluster("https://h:1", certificate_auth="ca.crt"), User(token="t"))
    with pytest.raises(KubeconfigError, match="relative"):
        ssl_context(relative)
    mixed = ClientConfig(
        Cluster("https://h:1"),
        User(client_cert_data=b64(pems["cert"]), client_key=str(tmp_path / "none.key")),
    )
    with pytest.raises(FileNotFoundError):
        ssl_context(mixed)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([1], "expected a mapping"),
        ({"contexts": []}, "no current-context"),
        ({"current-context": "x", "contexts": []}, "no context 'x'"),
        ({"current-context": "x", "contexts": {}}, "contexts: expected a list"),
        ({"current-context": "x", "contexts": [{"context": {}}]}, r"contexts\[0\]: expected"),
        ({"current-context": "x", "contexts": [{"name": "x", "context": []}]}, "context: expected"),
        ({"current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "k"}}]},
         "no cluster 'k'"),
        ({"current-context": "x", "contexts": [{"name": "x"}]}, "no cluster None"),
        ({"current-context": "x", "clusters": [{"name": "k", "cluster": {"server": "s"}}],
          "contexts": [{"name": "x", "context": {"cluster": "k", "user": "u"}}]}, "no user 'u'"),
        (kubeconfig({}), r"clusters\[k\].server: expected the API server"),
        (kubeconfig({"server": 7}), r"clusters\[k\].server: expected a string, got int"),
        (kubeconfig({"server": "s", "insecure-skip-tls-verify": "yes"}), "true or false"),
        (kubeconfig({"server": "s"}, {"exec": "cmd"}), r"users\[u\].exec: expected a mapping"),
        (kubeconfig({"server": "s"}, {"exec": {"args": []}}), "exec.command: expected"),
        (kubeconfig({"server": "s"}, {"exec": {"command": "c", "args": [1]}}), "exec.args"),
        (kubeconfig({"server": "s"}, {"exec": {"command": "c", "env": [{"name": "a"}]}}),
         "exec.env"),
    ],
)  # fmt: skip
def test_kubeconfig_errors_name_the_field(doc: Any, message: str) -> None:
    with pytest.raises(KubeconfigError, match=message):
        config_from_dict(doc, Path("/k.yaml"))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="kubeconfig not found"):
        load_kubeconfig(tmp_path / "nope.yaml")
    with pytest.raises(KubeconfigError, match="cannot read"):
        load_kubeconfig(tmp_path)
    (tmp_path / "bad.yaml").write_text("a: [unclosed\n")
    with pytest.raises(KubeconfigError, match="not YAML"):
        load_kubeconfig(tmp_path / "bad.yaml")
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(kubeconfig({"server": "https://h:1"}, {})))
    assert load_kubeconfig(tmp_path / "ok.yaml", "c").cluster.server == "https://h:1"


def make(config: ClientConfig, responses: list[int]) -> tuple[Kube, list[str]]:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx2.Response(responses.pop(0) if responses else 200, json={})

    return Kube(config, transport=httpx2.MockTransport(handler)), seen


async def test_token_basic_and_token_file_credentials(tmp_path: Path) -> None:
    kube, seen = make(ClientConfig(Cluster("https://h:1"), User(token=" t0\n")), [])
    async with kube:
        await kube.get(CONFIG_MAPS, "x", "ns")
    basic, seen_basic = make(
        ClientConfig(Cluster("https://h:1"), User(username="a", password="b")), []
    )
    async with basic:
        await basic.get(CONFIG_MAPS, "x", "ns")
    assert seen == ["Bearer t0"] and seen_basic == ["Basic " + b64(b"a:b")]
    token = tmp_path / "token"
    token.write_text("one\n")
    kube, seen = make(ClientConfig(Cluster("https://h:1"), User(token_file=str(token))), [200, 401])
    async with kube:
        await kube.get(CONFIG_MAPS, "x", "ns")
        token.write_text("two\n")  # rotated: read again after the 401
        await kube.get(CONFIG_MAPS, "x", "ns")
    assert seen == ["Bearer one", "Bearer one", "Bearer two"]
    token.unlink()
    kube, _ = make(ClientConfig(Cluster("https://h:1"), User(token_file=str(token))), [])
    async with kube:
        with pytest.raises(KubeconfigError, match="cannot read the token file"):
            await kube.get(CONFIG_MAPS, "x", "ns")
    with pytest.raises(KubeconfigError, match="auth-provider"):
        client_auth(User(auth_provider={"name": "gcp"}))


def test_exec_credentials_need_the_async_client() -> None:
    auth = client_auth(User(exec=ExecPlugin(apiVersion="v", command="c")))
    assert auth is not None
    with pytest.raises(KubeconfigError, match="async client only"):
        auth.sync_auth_flow(httpx2.Request("GET", "https://h:1/"))


async def test_exec_plugin_refuses_an_unknown_api_version() -> None:
    plugin = ExecPlugin(apiVersion="example.com/v9", command="true")
    kube, _ = make(ClientConfig(Cluster("https://h:1"), User(exec=plugin)), [])
    async with kube:
        with pytest.raises(KubeconfigError, match=r"apiVersion 'example\.com/v9'"):
            await kube.get(CONFIG_MAPS, "x", "ns")


def test_typed_client_gets_the_same_configuration(pems: dict[str, bytes]) -> None:
    plugin = ExecPlugin(
        apiVersion="client.authentication.k8s.io/v1", command="c", args=("a",), env=(("K", "V"),)
    )
    config = ClientConfig(
        Cluster("https://h:1", certificate_auth_data=b64(pems["ca"])),
        User(exec=plugin),
        namespace="apps",
    )
    typed = Kube(config).typed()
    assert type(typed).__name__ == "AsyncClient"
    assert typed.namespace == "apps"
