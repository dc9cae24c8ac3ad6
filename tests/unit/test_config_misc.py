"""Edges: errors found only after merging, passwords, explain fallbacks, the README table."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import bcrypt
import pytest

from k3os import host
from k3os.config import ConfigSchemaError, Origin, explain, load_config
from k3os.config.datasources import probe
from k3os.config.schema import NodeConfig
from k3os.host import passwords
from k3os.host.planner import fetch_url

README = Path(__file__).resolve().parents[2] / "README.md"


def put(root: Path, path: str, text: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def test_error_only_after_merging_names_a_source(tmp_path: Path) -> None:
    put(tmp_path, "/k3os/system/config.yaml", "write_files: [{path: /a}]\n")
    put(tmp_path, "/var/lib/rancher/k3os/config.d/10.yaml", "write_files+: [{path: /a}]\n")
    with pytest.raises(
        ConfigSchemaError, match=r"config\.yaml:1:16: write_files: /a is listed more than once"
    ):
        load_config(tmp_path, "")


def test_passwords() -> None:
    hashed = passwords.hash_password("pw")
    assert hashed.startswith("$2b$") and passwords.matches("pw", hashed)
    assert not passwords.matches("pw", "$6$salt$x")
    assert not passwords.matches("pw", "$2b$broken")
    assert passwords.shadow_value(None, hashed) == "*"
    assert passwords.shadow_value("$6$a$b", hashed) == "$6$a$b"
    assert passwords.shadow_value("pw", hashed) == hashed
    fresh = passwords.shadow_value("other", hashed)
    assert fresh != hashed and bcrypt.checkpw(b"other", fresh.encode())


def test_explain_falls_back_to_the_nearest_origin() -> None:
    config = NodeConfig.model_validate({"hostname": "h", "k3os": {"labels": {}, "modules": ["a"]}})
    lines = explain(
        config,
        {("k3os", "modules"): Origin("mods"), ("hostname", "x"): Origin("below")},
    )
    assert lines == [
        'hostname = "h"    # below',
        'k3os.modules[0] = "a"    # mods',
        "k3os.labels = {}    # default",
    ]


def test_readme_phase_table_matches_the_code() -> None:
    text = README.read_text()
    for keys, phases in host.phase_table():
        cells = " | ".join("yes" if p in phases else "—" for p in host.PHASES)
        row = "| `" + keys.replace(", ", "`, `") + "` | " + cells + " |"
        assert row in text, row


def test_fetch_url_and_a_device_that_will_not_mount(tmp_path: Path) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"ssh-ed25519 KEY x\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert (
            fetch_url(f"http://127.0.0.1:{server.server_address[1]}/k.keys")
            == "ssh-ed25519 KEY x\n"
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    labels = tmp_path / "dev/disk/by-label"
    labels.mkdir(parents=True)
    (labels / "cidata").symlink_to("/dev/null")  # a character device: not a volume
    assert probe("nocloud", tmp_path) is None
