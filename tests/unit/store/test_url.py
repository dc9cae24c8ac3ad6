"""Datastore URLs: forms, options in the query, precise errors."""

from __future__ import annotations

import pytest

from k3os.store import InvalidStoreURL, Store, StoreOptions, StoreURL, open_store, register_driver
from k3os.store._registry import parse_url


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/lib/k3os/state.db", "/var/lib/k3os/state.db"),
        ("sqlite://relative/state.db", "relative/state.db"),
        ("SQLITE:///x.db", "/x.db"),
    ],
)
def test_sqlite_paths(url: str, path: str) -> None:
    parsed, options = parse_url(url)
    assert parsed.scheme == "sqlite"
    assert parsed.path == path
    assert options == StoreOptions()


@pytest.mark.parametrize(
    ("url", "endpoints", "tls"),
    [
        ("etcd://127.0.0.1:2379", (("127.0.0.1", 2379),), False),
        ("etcd://a:1,b:2", (("a", 1), ("b", 2)), False),
        ("etcd://onlyhost", (("onlyhost", 2379),), False),
        ("http://a:2379,b:2379", (("a", 2379), ("b", 2379)), False),
        ("https://a:2379,https://b:2380/", (("a", 2379), ("b", 2380)), True),
        ("http://a:1,https://b:2", (("a", 1), ("b", 2)), True),
        ("etcd://[::1]:2379", (("::1", 2379),), False),
    ],
)
def test_etcd_endpoints(url: str, endpoints: tuple[tuple[str, int], ...], tls: bool) -> None:
    parsed, _ = parse_url(url)
    assert parsed.endpoints == endpoints
    assert parsed.tls is tls


def test_query_overrides_options() -> None:
    _, options = parse_url(
        "sqlite:///x.db?retention=50&compact_interval=2.5&synchronous=normal&retention_seconds=30",
        StoreOptions(retention=7),
    )
    assert options == StoreOptions(
        retention=50, retention_seconds=30.0, compact_interval=2.5, synchronous="NORMAL"
    )
    parsed, options = parse_url("etcd://h:1?ca=/ca.pem&cert=/c.pem&key=/k.pem")
    assert (options.ca_file, options.cert_file, options.key_file) == (
        "/ca.pem",
        "/c.pem",
        "/k.pem",
    )
    assert parsed.tls
    assert parse_url("etcd://h:1", StoreOptions(ca_file="/ca.pem"))[0].tls


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("state.db", "expected scheme://"),
        ("postgres://x", "unknown datastore scheme 'postgres'"),
        ("sqlite://", "sqlite needs a file path"),
        ("etcd://", "no etcd endpoints"),
        ("etcd://h:abc", "port 'abc' in 'h:abc' is not a number"),
        ("etcd://h:70000", "port 70000 out of range"),
        ("etcd://:2379", "empty host"),
        ("sqlite:///x.db?retention=-1", "retention='-1', expected a whole number >= 0"),
        ("sqlite:///x.db?retention=lots", "retention='lots'"),
        ("sqlite:///x.db?compact_interval=-2", "compact_interval='-2', expected seconds"),
        ("sqlite:///x.db?compact_interval=nan", "compact_interval='nan', expected seconds"),
        ("memory://?retention_seconds=-1", "retention_seconds='-1', expected seconds >= 0"),
        ("etcd://h:1?retention_seconds=inf", "retention_seconds='inf', expected seconds"),
        ("sqlite:///x.db?synchronous=OFF", "synchronous='OFF', expected FULL or NORMAL"),
        ("etcd://h:1?ca=", "ca='', expected a file path"),
        ("sqlite:///x.db?ca=/ca.pem", "unknown parameter 'ca' for sqlite://"),
        ("memory://?synchronous=FULL", "unknown parameter 'synchronous' for memory://"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(InvalidStoreURL) as info:
        parse_url(url)
    assert message in str(info.value)
    assert repr(url) in str(info.value) or "scheme" in str(info.value)


async def test_registered_driver_is_used() -> None:
    seen: list[StoreURL] = []

    async def opener(url: StoreURL, options: StoreOptions) -> Store:
        seen.append(url)
        return await open_store("memory://", options)

    register_driver("Test-Fake", opener)
    store = await open_store("test-fake://anything")
    await store.close()
    assert seen[0].path == "anything"


async def test_unknown_scheme_fails_at_open() -> None:
    with pytest.raises(InvalidStoreURL, match=r"known: .*etcd.*memory.*sqlite"):
        await open_store("nosuch://x")


async def test_store_is_an_async_context_manager() -> None:
    async with await open_store("memory://") as store:
        await store.create("/a", b"x")
    with pytest.raises(Exception, match="closed"):
        await store.get("/a")
