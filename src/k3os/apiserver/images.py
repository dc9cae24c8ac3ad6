"""System image bundles served to the fleet: `GET /v1-k3os/images/<name>` answers the file
`<data-dir>/server/images/<name>` (or `<name>.bundle`), so air-gapped nodes upgrade from
their own server. Requests pass the usual gate (nodes and admins may read `/v1-k3os/*`);
ranges are honoured so an interrupted download resumes. Bundles carry their own signature:
the agent verifies what it got before staging it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

__all__ = ["IMAGES_PREFIX", "image_routes", "images_dir"]

IMAGES_PREFIX = "/v1-k3os/images/"
Endpoint = Callable[[Request], Awaitable[Response]]


def images_dir(data_dir: Path) -> Path:
    return data_dir / "server" / "images"


def _not_found(name: str) -> Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": f"image bundle {name!r} not found",
        "reason": "NotFound",
        "code": 404,
    }
    return JSONResponse(body, status_code=404)


def find_bundle(directory: Path, name: str) -> Path | None:
    """The file for `name` in `directory`; None for a missing file or a name that would
    leave the directory."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        return None
    for candidate in (name, f"{name}.bundle"):
        path = directory / candidate
        if path.is_file():
            return path
    return None


def image_routes(data_dir: Path) -> list[tuple[str, Endpoint, list[str]]]:
    directory = images_dir(data_dir)

    async def serve_image(request: Request) -> Response:
        name = str(request.path_params["name"])
        path = find_bundle(directory, name)
        if path is None:
            return _not_found(name)
        return FileResponse(path, media_type="application/octet-stream")

    return [(IMAGES_PREFIX + "{name:path}", serve_image, ["GET", "HEAD"])]
