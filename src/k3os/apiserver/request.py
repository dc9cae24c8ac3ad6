"""An API request as the handlers see it: the resource it names and its query options.

Paths: `/api/v1/...` (core) and `/apis/<group>/<version>/...`, then
`[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from k3os.apiserver.errors import BadRequest, NotFound
from k3os.apiserver.registry import Registry, ResourceType

__all__ = ["ApiRequest", "parse_resource_path", "query_bool", "query_int"]


@dataclass(frozen=True)
class ApiRequest:
    rt: ResourceType
    namespace: str
    name: str
    subresource: str
    query: Mapping[str, str]

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun", "") == "All"


def parse_resource_path(
    registry: Registry, group: str, version: str, rest: str, query: Mapping[str, str]
) -> ApiRequest:
    parts = [p for p in rest.split("/") if p]
    namespace = ""
    if len(parts) >= 3 and parts[0] == "namespaces":
        inner = registry.lookup(group, version, parts[2])
        if inner is not None and inner.namespaced:
            namespace = parts[1]
            parts = parts[2:]
    if not parts or len(parts) > 3:
        raise NotFound("", rest)
    rt = registry.lookup(group, version, parts[0])
    if rt is None:
        raise _not_found_path(group, version, rest)
    name = parts[1] if len(parts) > 1 else ""
    sub = parts[2] if len(parts) > 2 else ""
    if sub and rt.subresource(sub) is None:
        raise _not_found_path(group, version, rest)
    for key in ("dryRun",):
        value = query.get(key)
        if value not in (None, "", "All"):
            raise BadRequest(f'Invalid dry run value: "{value}"; supported values: "All"')
    return ApiRequest(rt, namespace, name, sub, query)


def _not_found_path(group: str, version: str, rest: str) -> NotFound:
    err = NotFound("", "")
    err.message = "the server could not find the requested resource"
    err.details = {}
    return err


def query_int(query: Mapping[str, str], key: str, default: int = 0) -> int:
    value = query.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as e:
        raise BadRequest(f"invalid value {value!r} for {key}: expected an integer") from e


def query_bool(query: Mapping[str, str], key: str) -> bool:
    return query.get(key, "").lower() in ("1", "true", "yes")
