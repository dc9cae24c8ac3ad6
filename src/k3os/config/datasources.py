"""Data sources: config handed to the node by its environment, probed in order, first hit wins.

`k3os.data_sources` lists them; each entry is `NAME` or `NAME:TARGET`:

- `nocloud[:DIR]`: a NoCloud seed (`user-data`, `meta-data`) in DIR (default
  `/var/lib/cloud/seed/nocloud`), else a volume labelled `cidata`/`CIDATA`, mounted read-only;
- `cdrom[:DIR]`: a mounted medium at DIR, else `/dev/sr0` / `/dev/cdrom`, mounted read-only;
  it may hold `user-data`, `config.yaml` or `openstack/latest/user_data`;
- `openstack[:URL]` and `ec2[:URL]` (alias `aws`): a metadata service (default
  `http://169.254.169.254`), OpenStack's `/openstack/latest/*` or EC2's `/latest/*` paths.

A hit yields up to two layers: meta-data (host name, SSH keys), then user-data. User-data that
is a script (`#!…`) is written to `/run/k3os/userdata` and run in the runtime phase.
"""

from __future__ import annotations

import contextlib
import json
import logging
import stat
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from k3os.config.errors import DataSourceError, Origin
from k3os.config.merge import Layer
from k3os.config.spelling import canonicalize
from k3os.config.yamlsource import parse_yaml

log = logging.getLogger(__name__)

KINDS = ("nocloud", "cdrom", "openstack", "ec2", "aws")
DEFAULT_METADATA_URL = "http://169.254.169.254"
NOCLOUD_SEED = "var/lib/cloud/seed/nocloud"
USERDATA_SCRIPT = "/run/k3os/userdata"


def _inside(root: Path, target: str) -> Path:
    return root / target.lstrip("/")


def _userdata_layer(name: str, where: str, raw: bytes) -> Layer | None:
    source = f"{name} user-data"
    if not raw.strip():
        return None
    if raw.startswith(b"#!") or b"\0" in raw:
        script = raw.decode("utf-8", "replace")
        data: dict[str, Any] = {
            "write_files": [{"path": USERDATA_SCRIPT, "content": script, "permissions": "0700"}],
            "run_cmd+": [USERDATA_SCRIPT],
        }
        return Layer(source, data, {(): Origin(source, where)})
    try:
        text = raw.decode()
    except UnicodeDecodeError as e:
        raise DataSourceError(f"{where}: user-data is neither UTF-8 YAML nor a script") from e
    parsed, marks = parse_yaml(text, source=source, file=where)
    data, marks = canonicalize(parsed, marks, Origin(source, where))
    return Layer(source, data, marks)


def _meta_layer(name: str, where: str, hostname: str | None, keys: list[str]) -> Layer | None:
    data: dict[str, Any] = {}
    if hostname:
        data["hostname"] = str(hostname)
    if keys:
        data["ssh_authorized_keys"] = keys
    return (
        Layer(f"{name} meta-data", data, {(): Origin(f"{name} meta-data", where)}) if data else None
    )


def _read_dir(name: str, directory: Path) -> list[Layer] | None:
    """Layers from a NoCloud-style directory, or None when it holds nothing we know."""
    meta_file, hostname, keys = directory / "meta-data", None, []
    if meta_file.is_file():
        text = meta_file.read_text()
        meta, _ = parse_yaml(text, source=f"{name} meta-data", file=str(meta_file))
        hostname = meta.get("local-hostname") or meta.get("hostname")
        found = meta.get("public-keys") or []
        keys = [found] if isinstance(found, str) else [str(k) for k in found]
    layers = [m for m in [_meta_layer(name, str(meta_file), hostname, keys)] if m]
    for candidate in ("user-data", "config.yaml", "openstack/latest/user_data"):
        path = directory / candidate
        if path.is_file():
            layer = _userdata_layer(name, str(path), path.read_bytes())
            layers += [layer] if layer else []
            break
    else:
        if not meta_file.is_file():
            return None
    return layers


@contextlib.contextmanager
def _mounted(device: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="k3os-ds-") as mnt:
        subprocess.run(["mount", "-o", "ro", str(device), mnt], check=True, capture_output=True)
        try:
            yield Path(mnt)
        finally:
            subprocess.run(["umount", mnt], check=False, capture_output=True)


def _from_devices(name: str, devices: list[Path]) -> list[Layer] | None:
    for device in devices:
        with contextlib.suppress(OSError):
            if not stat.S_ISBLK(device.stat().st_mode):
                continue
            try:
                with _mounted(device) as mnt:
                    return _read_dir(name, mnt)
            except subprocess.CalledProcessError as e:
                log.warning("data source %s: cannot mount %s: %s", name, device, e.stderr.strip())
    return None


def _fetch(url: str, timeout: float) -> bytes | None:
    """GET a URL: the body, None for 404 or no answer, DataSourceError for other failures."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise DataSourceError(f"{url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        log.debug("data source %s: no answer (%s)", url, e)
        return None


def _openstack(name: str, base: str, timeout: float) -> list[Layer] | None:
    meta_url = f"{base}/openstack/latest/meta_data.json"
    raw = _fetch(meta_url, timeout)
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise DataSourceError(f"{meta_url}: not JSON: {e}") from e
    keys = [str(k) for k in (meta.get("public_keys") or {}).values()]
    layers = [m for m in [_meta_layer(name, meta_url, meta.get("hostname"), keys)] if m]
    user_url = f"{base}/openstack/latest/user_data"
    body = _fetch(user_url, timeout)
    user = _userdata_layer(name, user_url, body) if body else None
    return layers + ([user] if user else [])


def _ec2(name: str, base: str, timeout: float) -> list[Layer] | None:
    meta = f"{base}/latest/meta-data"
    listing = _fetch(f"{meta}/", timeout)
    if listing is None:
        return None
    host = _fetch(f"{meta}/local-hostname", timeout)
    keys: list[str] = []
    index = _fetch(f"{meta}/public-keys/", timeout) or b""
    for line in index.decode().splitlines():
        number = line.split("=", 1)[0].strip()
        key = _fetch(f"{meta}/public-keys/{number}/openssh-key", timeout) if number else None
        keys += [key.decode().strip()] if key else []
    hostname = host.decode().strip() if host else None
    layers = [m for m in [_meta_layer(name, meta, hostname, keys)] if m]
    user_url = f"{base}/latest/user-data"
    body = _fetch(user_url, timeout)
    user = _userdata_layer(name, user_url, body) if body else None
    return layers + ([user] if user else [])


def probe(spec: str, root: Path, *, timeout: float = 2.0) -> list[Layer] | None:
    """Probe one data source; its layers (maybe empty) when found, None when absent."""
    kind, _, target = spec.partition(":")
    name = f"datasource {kind}"
    if kind == "nocloud":
        directory = _inside(root, target or NOCLOUD_SEED)
        found = _read_dir(name, directory) if directory.is_dir() else None
        if found is None and not target:
            labels = root / "dev/disk/by-label"
            found = _from_devices(name, [labels / "cidata", labels / "CIDATA"])
        return found
    if kind == "cdrom":
        if target:
            directory = _inside(root, target)
            return _read_dir(name, directory) if directory.is_dir() else None
        return _from_devices(name, [root / "dev/sr0", root / "dev/cdrom"])
    base = (target or DEFAULT_METADATA_URL).rstrip("/")
    if kind == "openstack":
        return _openstack(name, base, timeout)
    return _ec2(name, base, timeout)
