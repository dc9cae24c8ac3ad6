"""Where an upgrade's bundle comes from: a URL, or the server's own image store.

The image of an upgrade request (the Plan's `upgrade.image`, expanded by the controller)
that is an http(s) URL is downloaded by the image room (resumable). Anything else names a
bundle the server serves from `<server-data-dir>/server/images/` at
`GET /v1-k3os/images/<name>` (for air-gapped fleets); it is fetched over the agent's own
authenticated TLS connection.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from k3os.client import ClientError, Kube

IMAGES_PATH = "/v1-k3os/images/"


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://", "file://"))


def server_path(ref: str) -> str:
    return IMAGES_PATH + quote(ref, safe="")


async def fetch_from_server(kube: Kube, ref: str, dest: Path, *, read_limit: float = 300) -> Path:
    """Download the bundle `ref` from the server into `dest` (atomically)."""
    import httpx2

    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    try:
        async with kube.stream_get(server_path(ref), read_limit=read_limit) as resp:
            if resp.status_code != 200:
                body = (await resp.aread())[:200].decode("utf-8", "replace")
                raise ClientError(f"GET {server_path(ref)}: HTTP {resp.status_code} {body}")
            with partial.open("wb") as out:
                async for chunk in resp.aiter_bytes():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
    except httpx2.HTTPError as e:
        raise ClientError(f"GET {server_path(ref)}: {e!r}") from e
    os.replace(partial, dest)
    return dest
