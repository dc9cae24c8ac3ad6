"""Each end sends its certificate as loaded, no chain built from its trust store: real
handshakes between Python's `ssl` contexts, as the server and the client make them, with the
Certificate messages read off the connection as each end sent them."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from k3os.security import tlschain
from k3os.security.pki import issue, make_ca, save_pair, utcnow

CERTIFICATE = 11  # the TLS handshake message type


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    now = utcnow()
    ca_cert, ca_key = make_ca("test-ca", now)
    ca = save_pair(ca_cert, ca_key, d / "ca.crt", d / "ca.key")
    server_cert, server_key = issue(ca, "k3os", server_names=["k3os"], now=now)
    save_pair(server_cert, server_key, d / "server.crt", d / "server.key")
    client_cert, client_key = issue(
        ca, "system:node:n1", organizations=["system:nodes"], client=True, now=now
    )
    save_pair(client_cert, client_key, d / "client.crt", d / "client.key")
    return {"dir": d}


def contexts(pki: dict[str, Path], *, leaf_only: bool) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    d = pki["dir"]
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # as uvicorn makes the server's
    server.load_cert_chain(d / "server.crt", d / "server.key")
    server.load_verify_locations(d / "ca.crt")
    server.verify_mode = ssl.CERT_OPTIONAL
    client = ssl.create_default_context(cafile=str(d / "ca.crt"))  # as the client's
    client.load_cert_chain(d / "client.crt", d / "client.key")
    if leaf_only:
        assert tlschain.send_leaf_only(server)
        assert tlschain.send_leaf_only(client)
    return server, client


def certificates_in(message: bytes) -> int:
    """How many certificates a TLS 1.3 Certificate message carries."""
    body = message[4:]  # type and length
    context_length = body[0]
    rest = body[1 + context_length + 3 :]
    count = 0
    while rest:
        size = int.from_bytes(rest[:3], "big")
        extensions = int.from_bytes(rest[3 + size : 5 + size], "big")
        rest = rest[5 + size + extensions :]
        count += 1
    return count


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> dict[str, int]:
    """A full handshake over memory BIOs; the certificates each end sent."""
    sent: dict[str, int] = {}

    def watch(end: str) -> Any:
        def callback(conn: Any, direction: str, version: Any, content_type: Any,
                     msg_type: Any, data: bytes) -> None:  # fmt: skip
            if direction == "write" and data[:1] == bytes([CERTIFICATE]):
                sent[end] = certificates_in(data)

        return callback

    server_ctx._msg_callback = watch("server")  # type: ignore[attr-defined]
    client_ctx._msg_callback = watch("client")  # type: ignore[attr-defined]
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="k3os")
    done = {"server": False, "client": False}
    for _ in range(10):
        for end, conn, out, peer_in in (("client", client, c_out, s_in),
                                        ("server", server, s_out, c_in)):  # fmt: skip
            if not done[end]:
                try:
                    conn.do_handshake()
                    done[end] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            break
    assert all(done.values())
    assert server.getpeercert()  # the client's certificate verified against the CA
    return sent


def test_leaf_only_each_end_sends_its_certificate_alone(pki: dict[str, Path]) -> None:
    assert handshake(*contexts(pki, leaf_only=True)) == {"server": 1, "client": 1}


def test_without_it_openssl_builds_the_chain_from_the_trust_store(pki: dict[str, Path]) -> None:
    """What the mode turns off: the CA, which the peer already trusts, sent beside the leaf."""
    assert handshake(*contexts(pki, leaf_only=False)) == {"server": 2, "client": 2}


def test_a_chain_loaded_with_the_certificate_still_goes_out(
    pki: dict[str, Path], tmp_path: Path
) -> None:
    d = pki["dir"]
    bundle = tmp_path / "server-chain.crt"
    bundle.write_bytes((d / "server.crt").read_bytes() + (d / "ca.crt").read_bytes())
    server, client = contexts(pki, leaf_only=True)
    server.load_cert_chain(bundle, d / "server.key")
    assert handshake(server, client)["server"] == 2


def test_the_client_context_from_a_kubeconfig_sends_its_leaf(pki: dict[str, Path]) -> None:
    from k3os.client.kubeconfig import config_from_dict, ssl_context

    d = pki["dir"]
    config = config_from_dict(
        {
            "clusters": [{"name": "c", "cluster": {"server": "https://k3os:6443",
                                                   "certificate-authority": str(d / "ca.crt")}}],
            "users": [{"name": "u", "user": {"client-certificate": str(d / "client.crt"),
                                             "client-key": str(d / "client.key")}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        },
        None,
    )  # fmt: skip
    server, _ = contexts(pki, leaf_only=True)
    assert handshake(server, ssl_context(config))["client"] == 1


def test_nothing_changes_where_libssl_cannot_be_reached(
    pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tlschain, "_libssl", lambda: None)
    server, client = contexts(pki, leaf_only=False)
    assert not tlschain.send_leaf_only(server)
    assert handshake(server, client) == {"server": 2, "client": 2}


def test_a_pointer_that_does_not_answer_with_the_contexts_options_is_left_alone() -> None:
    class Lib:
        @staticmethod
        def SSL_CTX_get_options(pointer: int) -> int:
            return 0xDEAD

    ctx = ssl.create_default_context()
    assert tlschain._ssl_ctx(ctx, Lib()) is None


@pytest.mark.parametrize(
    "patch",
    [
        ("platform.python_implementation", lambda: "PyPy"),
        ("sysconfig.get_config_var", lambda name: 1 if name == "Py_GIL_DISABLED" else None),
    ],
)
def test_an_interpreter_whose_object_header_is_not_known_is_left_alone(
    patch: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(*patch)
    assert tlschain._libssl.__wrapped__() is None  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert tlschain._libssl.__wrapped__() is not None  # this interpreter: reachable
