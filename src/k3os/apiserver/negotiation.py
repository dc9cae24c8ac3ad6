"""Media types: what a client's `Accept` asks for, what a body's `Content-Type` is, and
how answers are encoded.

JSON is the wire format (and YAML on request). Protobuf is not spoken: a client that
accepts nothing else gets 406, a protobuf body gets 415, as kube-apiserver answers media
types it does not serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from k3os.apis.jsonbytes import compact, parse
from k3os.apiserver.errors import BadRequest, NotAcceptable, UnsupportedMediaType
from k3os.apiserver.protobuf import PROTOBUF, decode_kubernetes_protobuf

__all__ = [
    "JSON",
    "MediaType",
    "Wanted",
    "decode_body",
    "encode",
    "parse_accept",
    "parse_media_type",
]

JSON = "application/json"
YAML = "application/yaml"
SERVED = [JSON, YAML, "application/json;stream=watch"]
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


@dataclass(frozen=True)
class MediaType:
    type: str
    params: dict[str, str] = field(default_factory=dict)


def parse_media_type(text: str) -> MediaType:
    parts = [p.strip() for p in text.split(";")]
    params: dict[str, str] = {}
    for p in parts[1:]:
        key, _, value = p.partition("=")
        if key:
            params[key.strip().lower()] = value.strip().strip('"')
    return MediaType(parts[0].lower(), params)


@dataclass(frozen=True)
class Wanted:
    """What to answer with: `format` json or yaml; `as_kind` Table / PartialObjectMetadata
    / APIGroupDiscoveryList (with its `version`), or "" for the object itself."""

    format: str = "json"
    as_kind: str = ""
    version: str = ""
    include_object: str = ""


_AS_GROUPS = {
    "Table": "meta.k8s.io",
    "PartialObjectMetadata": "meta.k8s.io",
    "PartialObjectMetadataList": "meta.k8s.io",
    "APIGroupDiscoveryList": "apidiscovery.k8s.io",
}


def parse_accept(header: str | None, *, allowed_as: tuple[str, ...] = ()) -> Wanted:
    """Pick the first acceptable entry of `Accept`; raise 406 if there is none."""
    if not header:
        return Wanted()
    for raw in header.split(","):
        if not raw.strip():
            continue
        mt = parse_media_type(raw)
        as_kind = mt.params.get("as", "")
        if mt.type in ("application/json", "*/*", "application/*", "application/json-seq"):
            fmt = "json"
        elif mt.type in ("application/yaml", "application/x-yaml"):
            fmt = "yaml"
        else:
            continue
        if as_kind:
            if as_kind not in allowed_as or mt.params.get("g") != _AS_GROUPS.get(as_kind):
                continue
            return Wanted(fmt, as_kind, mt.params.get("v", ""))
        if mt.params.get("g") or mt.params.get("v"):
            if mt.params.get("g") == "apidiscovery.k8s.io" and "APIGroupDiscoveryList" in (
                allowed_as
            ):
                return Wanted(fmt, "APIGroupDiscoveryList", mt.params.get("v", ""))
            continue
        return Wanted(fmt)
    raise NotAcceptable([JSON, YAML])


def encode(body: Any, wanted: Wanted) -> tuple[bytes, str]:
    if wanted.format == "yaml":
        return yaml.safe_dump(body, sort_keys=False).encode(), YAML
    return compact(body), JSON


def decode_body(
    raw: bytes,
    content_type: str | None,
    *,
    patch: bool = False,
    definitions: dict[str, Any] | None = None,
) -> tuple[Any, str]:
    """The decoded body and its media type. Patches must name a patch type; protobuf
    bodies are decoded when `definitions` (the schemas) are given."""
    mt = parse_media_type(content_type or JSON)
    kind = mt.type
    if kind == PROTOBUF and definitions is not None and not patch:
        return decode_kubernetes_protobuf(raw, definitions), kind
    if patch:
        if kind not in PATCH_TYPES:
            raise UnsupportedMediaType(list(PATCH_TYPES))
    elif kind not in (JSON, YAML, "application/x-yaml", "*/*", ""):
        raise UnsupportedMediaType([JSON, YAML])
    if not raw.strip():
        raise BadRequest("the request body is empty")
    try:
        if kind in (YAML, "application/x-yaml", "application/apply-patch+yaml"):
            return yaml.safe_load(raw.decode()), kind
        return parse(raw), kind
    except (ValueError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise BadRequest(f"the request body could not be decoded: {e}") from e
