"""Upgrades over HTTP from a server on 127.0.0.1: progress, Range resume, restarts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from k3os.image.download import ProgressPrinter, download
from k3os.image.errors import DownloadError
from k3os.image.state import StateArea
from tests.tooling.image_fixtures import KeyPair, bundle, keypair, new_state
from tests.tooling.range_http import Served, serve

pytestmark = pytest.mark.integration


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return keypair(tmp_path / "keys")


def test_resume_with_range(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    with serve(Served(files={"b": data}, cut_after=100_000)) as http:
        dest = tmp_path / "b.bundle"
        with pytest.raises(DownloadError, match=r"run again to resume|connection lost"):
            download(http.url("b"), dest)
        partial = tmp_path / "b.bundle.partial"
        assert partial.stat().st_size == 100_000
        http.cut_after = None
        seen: list[tuple[int, int | None]] = []
        download(http.url("b"), dest, progress=lambda d, t: seen.append((d, t)))
        assert dest.read_bytes() == data
        assert http.requests[-1] == ("b", "bytes=100000-")
        assert http.if_ranges[-1] is not None and http.if_ranges[-1].startswith('"')
        assert seen[-1] == (len(data), len(data))
        assert seen[0][0] > 100_000  # counting went on from the partial file
        assert not partial.exists()


def test_weak_etag_is_not_used_for_if_range(tmp_path: Path) -> None:
    data = b"w" * 200_000
    with serve(Served(files={"b": data}, cut_after=70_000, weak_etag=True)) as http:
        dest = tmp_path / "b.bundle"
        with pytest.raises(DownloadError):
            download(http.url("b"), dest)
        http.cut_after = None
        download(http.url("b"), dest)
        assert dest.read_bytes() == data
        assert http.requests[-1] == ("b", "bytes=70000-")
        assert http.if_ranges[-1] is None


def test_changed_file_restarts_from_zero(tmp_path: Path) -> None:
    with serve(Served(files={"b": b"a" * 200_000}, cut_after=50_000)) as http:
        dest = tmp_path / "b.bundle"
        with pytest.raises(DownloadError):
            download(http.url("b"), dest)
        http.files["b"] = b"b" * 150_000
        http.cut_after = None
        download(http.url("b"), dest)
        assert dest.read_bytes() == b"b" * 150_000  # If-Range did not match: full body


def test_complete_partial_and_errors(tmp_path: Path) -> None:
    data = b"x" * 1000
    with serve(Served(files={"b": data})) as http:
        dest = tmp_path / "b.bundle"
        partial = tmp_path / "b.bundle.partial"
        partial.write_bytes(data)
        (tmp_path / "b.bundle.partial.json").write_text(f'{{"url": "{http.url("b")}"}}')
        download(http.url("b"), dest)
        assert dest.read_bytes() == data
        assert http.requests[-1] == ("b", "bytes=1000-")
        with pytest.raises(DownloadError, match="HTTP 404"):
            download(http.url("missing"), tmp_path / "m")
    with pytest.raises(DownloadError):
        download(http.url("b"), tmp_path / "gone")  # server stopped


def test_progress_printer() -> None:
    lines: list[str] = []
    printer = ProgressPrinter(lines.append, "download")
    for done in range(0, 101, 5):
        printer(done, 100)
    assert (
        lines[0] == "download: 0% (0/100 bytes)" and lines[-1] == "download: 100% (100/100 bytes)"
    )
    assert len(lines) == 11
    lines.clear()
    printer = ProgressPrinter(lines.append, "download")
    printer(10, None)
    printer(20, None)
    assert lines == ["download: 10 bytes"]


def k3os(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k3os", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_upgrade_over_http_resumes_and_reboots_through_the_hook(
    tmp_path: Path, keys: KeyPair
) -> None:
    root = tmp_path / "root"
    state: StateArea = new_state(root, bundle(tmp_path, keys, "v1", seed=1), keys)
    v2 = bundle(tmp_path, keys, "v2", seed=2, size=200_000)
    marker = tmp_path / "rebooted"
    with serve(Served(files={"v2.bundle": v2.read_bytes()}, cut_after=250_000)) as http:
        args = ["upgrade", "--root", str(root), "--image", http.url("v2.bundle")]
        args += ["--reboot-command", f"touch {marker}"]
        first = k3os(*args)
        assert first.returncode == 1, first.stderr
        assert "run again to resume" in first.stderr or "connection lost" in first.stderr
        assert state.pointer("current") == "v1" and not marker.exists()
        assert state.versions() == ["v1"]  # nothing staged from a partial download
        http.cut_after = None
        second = k3os(*args)
        assert second.returncode == 0, second.stderr
        assert http.requests[-1] == ("v2.bundle", "bytes=250000-")
        assert "download: 100%" in second.stderr
        assert "rebooting: touch" in second.stdout
        assert marker.exists()
    assert state.pointer("current") == "v2"
    assert state.read_record().trial is not None
    assert not list(state.downloads.iterdir())


def test_cli_upgrade_refuses_a_tampered_download(tmp_path: Path, keys: KeyPair) -> None:
    root = tmp_path / "root"
    state = new_state(root, bundle(tmp_path, keys, "v1", seed=1), keys)
    data = bytearray(bundle(tmp_path, keys, "v2", seed=2).read_bytes())
    data[-20_000] ^= 0xFF  # inside the last part
    with serve(Served(files={"v2.bundle": bytes(data)})) as http:
        done = k3os("upgrade", "--root", str(root), "--image", http.url("v2.bundle"), "--no-reboot")
    assert done.returncode == 1
    assert "sha256" in done.stderr
    assert state.versions() == ["v1"] and state.pointer("current") == "v1"
    assert not list(state.downloads.iterdir())  # the bad download is dropped, not resumed
