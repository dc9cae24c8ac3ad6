"""What a Plan runs, reduced to one hash; the version a channel points at; the image to fetch.

Unlike system-upgrade-controller, the hash covers every input that changes what runs on
a node (the upgrade and prepare steps' image, command, args, env, volumes and security
context, the version, the service account, the mounted Secrets' content) so editing any
of them re-runs the Plan. Rollout knobs (concurrency, window, drain, canary...) are left
out on purpose: changing them must not upgrade every node again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from k3os.apis.keys import DIGEST_ANNOTATION
from k3os.apis.plan import Plan
from k3os.controllers.decisions.errors import ChannelError, MissingSecret

SecretData = Mapping[str, Mapping[str, str | bytes]]
VERSION_PLACEHOLDER = "$(LATEST_VERSION)"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _secret_digest(data: Mapping[str, str | bytes]) -> str:
    digest = hashlib.sha256()
    for key in sorted(data):
        value = data[key]
        raw = value.encode() if isinstance(value, str) else value
        digest.update(_canonical([key, hashlib.sha256(raw).hexdigest()]))
    return digest.hexdigest()


def _lookup(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, Mapping) or part not in tree:
            return None
        tree = tree[part]
    return tree


def hash_inputs(plan: Plan, resolved_version: str, secret_data: SecretData) -> dict[str, Any]:
    """Everything the hash covers, as plain data (shown by `--explain`-style tooling)."""
    spec = plan.spec
    secrets = []
    for secret in spec.secrets:
        entry: dict[str, Any] = {"name": secret.name, "path": secret.path}
        entry["defaultMode"] = secret.default_mode
        if not secret.ignore_updates:
            if secret.name not in secret_data:
                raise MissingSecret(plan.metadata.name, secret.name)
            entry["content"] = _secret_digest(secret_data[secret.name])
        secrets.append(entry)
    inputs: dict[str, Any] = {
        "version": resolved_version,
        "upgrade": spec.upgrade.wire(),
        "prepare": spec.prepare.wire() if spec.prepare else None,
        "serviceAccountName": spec.service_account_name,
        "secrets": secrets,
    }
    extra = plan.metadata.annotations.get(DIGEST_ANNOTATION, "")
    paths = sorted({p.strip() for p in extra.split(",") if p.strip()})
    if paths:
        wire = plan.wire()
        inputs["annotated"] = {path: _lookup(wire, path) for path in paths}
    return inputs


def plan_hash(plan: Plan, resolved_version: str, secret_data: SecretData) -> str:
    """A 56-character hex digest (SHA-224: short enough to be a label value)."""
    return hashlib.sha224(_canonical(hash_inputs(plan, resolved_version, secret_data))).hexdigest()


def resolve_channel_version(location_url: str) -> str:
    """The version a channel points at: the last path element of its 302 `Location`."""
    parts = urlsplit(location_url.strip())
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise ChannelError(location_url, "expected a URL whose last path element is the version")
    version = unquote(segments[-1])
    if any(c.isspace() for c in version) or version in (".", ".."):
        raise ChannelError(location_url, f"{version!r} is not a version")
    return version


def resolved_version(plan: Plan, channel_location: str | None = None) -> str:
    """`spec.version` if set (it wins), else the channel's answer."""
    if plan.spec.version:
        return plan.spec.version
    if channel_location is None:
        raise ChannelError("", "the plan has a channel but no redirect was supplied")
    return resolve_channel_version(channel_location)


def effective_image(image: str, version: str) -> str:
    """The image or bundle reference to fetch for `version`.

    `$(LATEST_VERSION)` anywhere is replaced (URLs of bundles use this); an untagged
    `name` becomes `name:<version>` with `+` written as `-`, as OCI tags require; tagged,
    digest-pinned and URL references are used as they are.
    """
    if VERSION_PLACEHOLDER in image:
        return image.replace(VERSION_PLACEHOLDER, version)
    if "://" in image or "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        return image
    return f"{image}:{version.replace('+', '-')}"
