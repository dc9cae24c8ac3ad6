"""Opening a store by URL: drivers registered by scheme, URL and option parsing.

Built-in schemes are imported lazily, so `memory://` and `sqlite://` never load the
etcd client library.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from k3os.store._errors import InvalidStoreURL
from k3os.store._interface import Store
from k3os.store._model import StoreOptions

DEFAULT_URL = "sqlite:///var/lib/k3os/server/db/state.db"


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed datastore URL, as handed to a driver's opener."""

    scheme: str
    #: The file for sqlite (absolute or relative), "" for memory.
    path: str
    #: ("host", port) pairs for etcd.
    endpoints: tuple[tuple[str, int], ...]
    #: True for `https://` endpoints (TLS to etcd).
    tls: bool
    raw: str


Opener = Callable[[StoreURL, StoreOptions], Awaitable[Store]]

_BUILTIN: dict[str, str] = {
    "memory": "k3os.store._memory:open_memory",
    "sqlite": "k3os.store._sqlite:open_sqlite",
    "etcd": "k3os.store._etcd:open_etcd",
    "http": "k3os.store._etcd:open_etcd",
    "https": "k3os.store._etcd:open_etcd",
}
_registered: dict[str, Opener] = {}

_COMMON_PARAMS = {"retention", "retention_seconds", "compact_interval"}
_PARAMS: dict[str, set[str]] = {
    "memory": _COMMON_PARAMS,
    "sqlite": _COMMON_PARAMS | {"synchronous"},
    "etcd": _COMMON_PARAMS | {"ca", "cert", "key"},
    "http": _COMMON_PARAMS | {"ca", "cert", "key"},
    "https": _COMMON_PARAMS | {"ca", "cert", "key"},
}


def register_driver(scheme: str, opener: Opener) -> None:
    """Make `open_store` hand URLs of `scheme` to `opener` (replacing any earlier one)."""
    _registered[scheme.lower()] = opener


def _find_opener(scheme: str) -> Opener:
    if scheme in _registered:
        return _registered[scheme]
    target = _BUILTIN.get(scheme)
    if target is None:
        known = ", ".join(sorted({*_BUILTIN, *_registered}))
        raise InvalidStoreURL(f"unknown datastore scheme {scheme!r} (known: {known})")
    module_name, _, attr = target.partition(":")
    opener: Opener = getattr(importlib.import_module(module_name), attr)
    return opener


def _parse_endpoint(part: str, raw: str) -> tuple[str, int]:
    host, sep, port_text = part.rpartition(":")
    if not sep or (host.startswith("[") and not host.endswith("]")):
        host, port_text = part, "2379"  # no port given
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise InvalidStoreURL(f"datastore URL {raw!r}: empty host in {part!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise InvalidStoreURL(
            f"datastore URL {raw!r}: port {port_text!r} in {part!r} is not a number"
        ) from None
    if not 0 < port < 65536:
        raise InvalidStoreURL(f"datastore URL {raw!r}: port {port} out of range 1..65535")
    return host, port


def parse_url(url: str, options: StoreOptions | None = None) -> tuple[StoreURL, StoreOptions]:
    """Split a datastore URL into its driver's view and the effective options.

    Forms: `sqlite:///abs/path.db` or `sqlite://rel/path.db`; `memory://`;
    `etcd://h:p[,h:p]`; `http(s)://h:p[,h:p]` or `https://h:p,https://h:p` (k3s form).
    Query parameters (`?retention=1000&synchronous=NORMAL`, `?ca=…&cert=…&key=…`)
    override `options`.
    """
    options = options or StoreOptions()
    if "://" not in url:
        raise InvalidStoreURL(f"datastore URL {url!r}: expected scheme://…, e.g. {DEFAULT_URL}")
    scheme = url.split("://", 1)[0].lower()
    if scheme not in _PARAMS and scheme not in _registered:
        _find_opener(scheme)  # raises the "unknown scheme" error
    body = url.split("://", 1)[1]
    body, _, query = body.partition("?")
    options = _apply_query(url, scheme, query, options)
    endpoints: tuple[tuple[str, int], ...] = ()
    path = ""
    tls = scheme == "https"
    if scheme == "sqlite":
        path = body
        if not path:
            raise InvalidStoreURL(f"datastore URL {url!r}: sqlite needs a file path")
    elif scheme in ("etcd", "http", "https"):
        parts = []
        for item in body.split(","):
            item = item.strip().rstrip("/")
            if "://" in item:
                item_scheme, item = item.split("://", 1)
                tls = tls or item_scheme.lower() == "https"
            if item:
                parts.append(_parse_endpoint(item, url))
        if not parts:
            raise InvalidStoreURL(f"datastore URL {url!r}: no etcd endpoints (host:port)")
        endpoints = tuple(parts)
        if options.ca_file or options.cert_file:
            tls = True
    else:
        path = body
    return StoreURL(scheme, path, endpoints, tls, url), options


def _apply_query(url: str, scheme: str, query: str, options: StoreOptions) -> StoreOptions:
    allowed = _PARAMS.get(scheme, _COMMON_PARAMS)
    changes: dict[str, object] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in allowed:
            raise InvalidStoreURL(
                f"datastore URL {url!r}: unknown parameter {name!r} for {scheme}:// "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        try:
            if name == "retention":
                changes["retention"] = int(value)
                if int(value) < 0:
                    raise ValueError
            elif name in ("compact_interval", "retention_seconds"):
                changes[name] = float(value)
                if not float(value) >= 0 or float(value) == float("inf"):
                    raise ValueError
            elif name == "synchronous":
                if value.upper() not in ("FULL", "NORMAL"):
                    raise ValueError
                changes["synchronous"] = value.upper()
            else:
                if not value:
                    raise ValueError
                changes[{"ca": "ca_file", "cert": "cert_file", "key": "key_file"}[name]] = value
        except ValueError:
            expected = {
                "retention": "a whole number >= 0",
                "compact_interval": "seconds >= 0",
                "retention_seconds": "seconds >= 0",
                "synchronous": "FULL or NORMAL",
            }.get(name, "a file path")
            raise InvalidStoreURL(
                f"datastore URL {url!r}: parameter {name}={value!r}, expected {expected}"
            ) from None
    return dataclasses.replace(options, **changes)  # type: ignore[arg-type]


async def open_store(url: str = DEFAULT_URL, options: StoreOptions | None = None) -> Store:
    """Open the store named by `url` (see `parse_url` for the forms).

    Raises `InvalidStoreURL` for a malformed URL or option and `StoreUnavailable` when the
    backend cannot be opened or reached.
    """
    parsed, effective = parse_url(url, options)
    opener = _find_opener(parsed.scheme)
    return await opener(parsed, effective)
