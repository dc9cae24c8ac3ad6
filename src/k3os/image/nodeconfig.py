"""The node config as the installer sees it: a YAML mapping, plus what the questions add.

The shape the installer itself needs is checked here (a mapping; `k3os` a mapping; lists
where k3OS has lists), then the whole config against the config engine's schema, so a box
is never installed with a config it would refuse at boot.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from k3os.config import ConfigError, layer_from_text
from k3os.image.errors import ConfigFileError

_LISTS = ("ssh_authorized_keys", "write_files", "run_cmd", "boot_cmd", "init_cmd")
_K3OS_LISTS = ("wifi", "k3s_args", "dns_nameservers", "ntp_servers")


def parse_config(text: str, source: str) -> dict[str, Any]:
    """Parse and shape-check a node config; errors name the source, line and field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigFileError(f"{where}: not valid YAML: {problem}") from e
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigFileError(f"{source}: expected a mapping at the top, got {type(doc).__name__}")
    for key in _LISTS:
        if key in doc and not isinstance(doc[key], list):
            raise ConfigFileError(f"{source}: field {key!r}: expected a list")
    k3os = doc.get("k3os", {})
    if not isinstance(k3os, dict):
        raise ConfigFileError(f"{source}: field 'k3os': expected a mapping")
    for key in _K3OS_LISTS:
        if key in k3os and not isinstance(k3os[key], list):
            raise ConfigFileError(f"{source}: field 'k3os.{key}': expected a list")
    try:
        layer_from_text(text, source=source, file=source)
    except ConfigError as e:
        raise ConfigFileError(str(e)) from e
    return doc


def load_config(location: str, timeout: float = 30) -> dict[str, Any]:
    """Read a config from a file path or an http(s) URL."""
    if location.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(location, timeout=timeout) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError, UnicodeDecodeError) as e:
            raise ConfigFileError(f"{location}: cannot fetch config: {e}") from e
    else:
        try:
            text = Path(location).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigFileError(f"{location}: cannot read config: {e}") from e
    return parse_config(text, location)


def hash_password(password: str) -> str:
    """A SHA-512 crypt hash (`$6$...`) as /etc/shadow wants, made by `openssl passwd`."""
    try:
        done = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"],
            input=password,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        raise ConfigFileError(f"cannot hash the password with openssl: {e}") from e
    return done.stdout.strip()


@dataclass
class InstallAnswers:
    """What the interactive installer asked, in k3OS's order."""

    github_users: list[str] = field(default_factory=list)
    password_hash: str | None = None
    wifi: list[tuple[str, str]] = field(default_factory=list)
    role: str = "server"
    server_url: str | None = None
    token: str | None = None


def merge_answers(config: dict[str, Any], answers: InstallAnswers) -> dict[str, Any]:
    """The config with the answers folded in (answers win, lists are extended)."""
    merged = dict(config)
    k3os = dict(merged.get("k3os") or {})
    if answers.github_users:
        keys = list(merged.get("ssh_authorized_keys") or [])
        keys += [f"github:{u}" for u in answers.github_users if f"github:{u}" not in keys]
        merged["ssh_authorized_keys"] = keys
    if answers.password_hash:
        k3os["password"] = answers.password_hash
    if answers.wifi:
        k3os["wifi"] = [
            *k3os.get("wifi", []),
            *({"name": n, "passphrase": p} for n, p in answers.wifi),
        ]
    if answers.role == "agent" and answers.server_url:
        k3os["server_url"] = answers.server_url
    if answers.token:
        k3os["token"] = answers.token
    if k3os:
        merged["k3os"] = k3os
    return merged


def without_install_section(config: dict[str, Any]) -> dict[str, Any]:
    """The config to install: `k3os.install` steers the installer, the box has no use for it."""
    section = config.get("k3os")
    if not isinstance(section, dict) or "install" not in section:
        return config
    rest = {k: v for k, v in section.items() if k != "install"}
    if rest:
        return {**config, "k3os": rest}
    return {k: v for k, v in config.items() if k != "k3os"}


def dump_config(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
