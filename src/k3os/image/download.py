"""Resumable HTTP download of a bundle, with progress reports.

The body goes to `<dest>.partial`; a sidecar `<dest>.partial.json` remembers the URL and the
server's validator (ETag or Last-Modified). A later call asks for the rest with `Range` and
`If-Range`, so a changed file on the server restarts from zero instead of being spliced.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Final

from k3os.image.errors import DownloadError
from k3os.image.fsutil import crash_point, fsync_dir

Progress = Callable[[int, int | None], None]
_CHUNK: Final = 1 << 16
_CONTENT_RANGE: Final = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def _sidecar(partial: Path) -> Path:
    return partial.with_name(partial.name + ".json")


def download(
    url: str, dest: Path, *, progress: Progress | None = None, timeout: float = 30
) -> Path:
    """Fetch `url` into `dest`, resuming an earlier partial download of the same URL."""
    partial = dest.with_name(dest.name + ".partial")
    meta_path = _sidecar(partial)
    offset, validator = 0, None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("url") == url and partial.exists():
            offset, validator = partial.stat().st_size, meta.get("validator")
    except (OSError, ValueError, AttributeError):
        pass
    request = urllib.request.Request(url, headers={"User-Agent": "k3os-upgrade"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
        if validator:
            request.add_header("If-Range", validator)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            # Nothing left to send: our partial file already holds the whole body.
            return _finish(partial, meta_path, dest)
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"{url}: {getattr(e, 'reason', e)}") from e
    with response:
        total: int | None = None
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise DownloadError(f"{url}: server answered a range request with a bad range")
            total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        else:
            offset = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        etag = response.headers.get("ETag")
        # If-Range needs a strong validator: a weak ETag would never match.
        strong = etag if etag and not etag.startswith("W/") else None
        validator = strong or response.headers.get("Last-Modified")
        dest.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps({"url": url, "validator": validator}))
        done = offset
        with partial.open(mode) as out:
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
                    if done >= _CHUNK:
                        crash_point("download-mid")
            except (OSError, http.client.HTTPException) as e:
                raise DownloadError(f"{url}: connection lost after {done} bytes ({e})") from e
            out.flush()
            os.fsync(out.fileno())
    if total is not None and done != total:
        raise DownloadError(f"{url}: got {done} of {total} bytes; run again to resume")
    return _finish(partial, meta_path, dest)


def _finish(partial: Path, meta_path: Path, dest: Path) -> Path:
    os.rename(partial, dest)
    meta_path.unlink(missing_ok=True)
    fsync_dir(dest.parent)
    return dest


class ProgressPrinter:
    """Reports progress as a line every ~10 %, to any `write(str)` sink."""

    def __init__(self, write: Callable[[str], None], label: str) -> None:
        self._write = write
        self._label = label
        self._last = -1

    def __call__(self, done: int, total: int | None) -> None:
        if total:
            step = done * 10 // total
            if step != self._last:
                self._last = step
                self._write(f"{self._label}: {done * 100 // total}% ({done}/{total} bytes)")
        elif done // (1 << 22) != self._last:
            self._last = done // (1 << 22)
            self._write(f"{self._label}: {done} bytes")
