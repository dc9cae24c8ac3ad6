"""A release channel on 127.0.0.1: `/channels/<name>` answers 302 with a Location whose last
path element is the channel's version, as system-upgrade-controller channels (and GitHub's
`releases/latest`) do. Used by the simulator, the demo and the tests.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

__all__ = ["ChannelServer"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        version = None
        if path.startswith("/channels/"):
            version = self.server.channels.get(path[len("/channels/") :])
        if version is None:
            self.send_error(404)
            return
        self.send_response(302)
        self.send_header("Location", f"/releases/tag/{quote(version)}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    channels: dict[str, str]


class ChannelServer:
    """Channels under `/channels/<name>`; use as a context manager."""

    def __init__(self, channels: dict[str, str] | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.channels = dict(channels or {})
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="channel-server", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def channel_url(self, name: str) -> str:
        return f"{self.url}/channels/{name}"

    def set_channel(self, name: str, version: str) -> None:
        self._server.channels[name] = version

    def __enter__(self) -> ChannelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
