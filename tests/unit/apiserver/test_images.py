from __future__ import annotations

from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from k3os.apiserver.images import find_bundle, image_routes, images_dir


def test_find_bundle_stays_in_its_directory(tmp_path: Path) -> None:
    (tmp_path / "k3os-v2.bundle").write_bytes(b"x")
    (tmp_path / ".hidden").write_bytes(b"x")
    assert find_bundle(tmp_path, "k3os-v2.bundle") == tmp_path / "k3os-v2.bundle"
    assert find_bundle(tmp_path, "k3os-v2") == tmp_path / "k3os-v2.bundle"
    for bad in ("", ".hidden", "../etc/passwd", "a/b", "a\\b", "nope"):
        assert find_bundle(tmp_path, bad) is None


async def test_bundles_are_served_with_ranges(tmp_path: Path) -> None:
    directory = images_dir(tmp_path)
    directory.mkdir(parents=True)
    (directory / "k3os-v2.bundle").write_bytes(b"0123456789")
    app = Starlette(routes=[Route(p, e, methods=m) for p, e, m in image_routes(tmp_path)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        whole = await client.get("/v1-k3os/images/k3os-v2.bundle")
        assert whole.status_code == 200 and whole.content == b"0123456789"
        part = await client.get("/v1-k3os/images/k3os-v2", headers={"Range": "bytes=4-"})
        assert part.status_code == 206 and part.content == b"456789"
        missing = await client.get("/v1-k3os/images/k3os-v3.bundle")
        assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"
