"""The PKI's certificates work in a real TLS handshake on loopback, and strangers are refused."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from k3os.security.bootstrap import ensure_server_pki

pytestmark = pytest.mark.integration


def _serve_once(ctx: ssl.SSLContext, sock: socket.socket, seen: list[object]) -> None:
    conn, _ = sock.accept()
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            seen.append(tls.getpeercert())
            tls.sendall(b"ok")
    except ssl.SSLError as e:
        seen.append(e)


def _server(tmp: Path) -> tuple[socket.socket, ssl.SSLContext, Path]:
    pki = ensure_server_pki(tmp)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.serving.cert_path, pki.serving.key_path)
    ctx.load_verify_locations(pki.ca.cert_path)
    ctx.verify_mode = ssl.CERT_REQUIRED
    sock = socket.create_server(("127.0.0.1", 0))
    return sock, ctx, tmp


def test_admin_client_cert_completes_mutual_tls(tmp_path: Path) -> None:
    sock, ctx, tmp = _server(tmp_path)
    seen: list[object] = []
    t = threading.Thread(target=_serve_once, args=(ctx, sock, seen))
    t.start()
    client = ssl.create_default_context(cafile=tmp / "server/tls/ca.crt")
    client.load_cert_chain(tmp / "server/tls/admin.crt", tmp / "server/tls/admin.key")
    port = sock.getsockname()[1]
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.recv(2) == b"ok"
    t.join(5)
    sock.close()
    peer = seen[0]
    assert isinstance(peer, dict)
    assert ((("commonName", "system:admin"),)) in peer["subject"]


def test_client_cert_from_another_ca_is_refused(tmp_path: Path) -> None:
    sock, ctx, _ = _server(tmp_path / "a")
    stranger = ensure_server_pki(tmp_path / "b")
    seen: list[object] = []
    t = threading.Thread(target=_serve_once, args=(ctx, sock, seen))
    t.start()
    client = ssl.create_default_context(cafile=tmp_path / "a/server/tls/ca.crt")
    client.load_cert_chain(stranger.admin.cert_path, stranger.admin.key_path)
    port = sock.getsockname()[1]
    with (
        pytest.raises((ssl.SSLError, ConnectionError)),
        socket.create_connection(("127.0.0.1", port)) as raw,
        client.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.recv(2)
    t.join(5)
    sock.close()
    assert isinstance(seen[0], ssl.SSLError)
