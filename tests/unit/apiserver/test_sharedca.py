"""Sharing the cluster CA and signing key through the datastore (memory store stands in for
etcd here; tests/integration/test_ha.py does it with two servers on a real etcd)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from k3os.apiserver import sharedca
from k3os.apiserver.sharedca import (
    SharedSecretsError,
    is_shared,
    prepare_datastore,
    share_cluster_secrets,
)
from k3os.security.clustersecrets import (
    SHARED_FILES,
    bootstrap_key,
    read_shared,
    seal,
    unseal,
)
from k3os.security.errors import PKIError, TokenError
from k3os.store import KeyValue, Store, open_store

SECRET = "cluster-secret-1"


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = await open_store("memory://")
    yield s
    await s.close()


def tls(data_dir: Path) -> Path:
    return data_dir / "server" / "tls"


def test_is_shared() -> None:
    assert is_shared("etcd://127.0.0.1:2379")
    assert is_shared("https://a:2379,https://b:2379")
    assert not is_shared("sqlite:///x/state.db")
    assert not is_shared("memory://")


def test_other_datastores_keep_the_token(tmp_path: Path) -> None:
    assert prepare_datastore("memory://", tmp_path, "given") == "given"
    assert prepare_datastore("memory://", tmp_path, None) is None
    assert not tls(tmp_path).exists()


def test_seal_round_trip_and_failures() -> None:
    files = {name: f"<{name}>".encode() for name in SHARED_FILES}
    blob = seal(files, SECRET, aad="/bootstrap/x")
    assert SECRET.encode() not in blob and b"<ca.key>" not in blob
    assert unseal(blob, SECRET, aad="/bootstrap/x") == files
    with pytest.raises(TokenError, match="does not open"):
        unseal(blob, "another-secret", aad="/bootstrap/x")
    with pytest.raises(TokenError):  # moved to another key
        unseal(blob, SECRET, aad="/bootstrap/y")
    with pytest.raises(PKIError, match="not a sealed"):
        unseal(b"{}", SECRET, aad="/bootstrap/x")
    with pytest.raises(PKIError, match="not a sealed"):
        unseal(b"garbage", SECRET, aad="/bootstrap/x")
    partial = seal({"ca.crt": b"c"}, SECRET, aad="k")
    with pytest.raises(PKIError, match=r"lacks ca\.key, service-account\.key"):
        unseal(partial, SECRET, aad="k")
    assert bootstrap_key(SECRET).startswith("/bootstrap/")
    assert SECRET not in bootstrap_key(SECRET)


async def test_first_publishes_second_takes(store: Store, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert await share_cluster_secrets(store, a, SECRET) == SECRET
    kv = await store.get(bootstrap_key(SECRET))
    assert kv is not None
    assert await share_cluster_secrets(store, b, SECRET) == SECRET
    assert read_shared(tls(a)) == read_shared(tls(b))
    assert (tls(b) / "ca.key").stat().st_mode & 0o777 == 0o600
    # a restart changes nothing, with the token given or read from the data dir
    (b / "server" / "node-token").write_text(f"{SECRET}\n")
    assert await share_cluster_secrets(store, b, None) == SECRET
    assert await share_cluster_secrets(store, a, SECRET) == SECRET
    after = await store.get(bootstrap_key(SECRET))
    assert after is not None and after.mod_revision == kv.mod_revision


async def test_no_token_on_an_empty_datastore_makes_one(store: Store, tmp_path: Path) -> None:
    token = await share_cluster_secrets(store, tmp_path / "a", None)
    assert await store.get(bootstrap_key(token)) is not None
    with pytest.raises(SharedSecretsError, match="start this server with that cluster's token"):
        await share_cluster_secrets(store, tmp_path / "b", None)
    assert read_shared(tls(tmp_path / "b")) is None


async def test_another_token_is_refused(store: Store, tmp_path: Path) -> None:
    await share_cluster_secrets(store, tmp_path / "a", SECRET)
    with pytest.raises(SharedSecretsError, match="sealed with another token"):
        await share_cluster_secrets(store, tmp_path / "b", "another-secret")
    assert not (tls(tmp_path / "b") / "ca.crt").exists()


async def test_a_data_dir_of_another_cluster_is_refused(store: Store, tmp_path: Path) -> None:
    other = await open_store("memory://")
    try:
        await share_cluster_secrets(other, tmp_path / "b", SECRET)  # its own CA elsewhere
    finally:
        await other.close()
    await share_cluster_secrets(store, tmp_path / "a", SECRET)
    before = read_shared(tls(tmp_path / "b"))
    with pytest.raises(SharedSecretsError, match=r"ca\.crt, ca\.key, service-account\.key differ"):
        await share_cluster_secrets(store, tmp_path / "b", SECRET)
    assert read_shared(tls(tmp_path / "b")) == before


class _Racing:
    """A store whose first `get` misses a record another server writes just then."""

    def __init__(self, store: Store, blob: bytes, *, vanish: bool = False) -> None:
        self.store, self.blob, self.vanish, self.gets = store, blob, vanish, 0

    async def range(self, prefix: str, **kw: object) -> object:
        return await self.store.range(prefix, limit=1)

    async def get(self, key: str) -> KeyValue | None:
        self.gets += 1
        if self.gets == 1 or self.vanish:
            return None
        return await self.store.get(key)

    async def create(self, key: str, value: bytes) -> KeyValue:
        await self.store.create(key, self.blob)
        if self.vanish:
            await self.store.delete(key)
        return await self.store.create(key, value)  # raises KeyExists unless vanished


async def test_losing_the_race_takes_the_winners(store: Store, tmp_path: Path) -> None:
    winner = tmp_path / "winner"
    scratch = await open_store("memory://")
    try:
        await share_cluster_secrets(scratch, winner, SECRET)
        kv = await scratch.get(bootstrap_key(SECRET))
        assert kv is not None
    finally:
        await scratch.close()
    racing = _Racing(store, kv.value)
    await share_cluster_secrets(racing, tmp_path / "loser", SECRET)  # type: ignore[arg-type]
    assert read_shared(tls(tmp_path / "loser")) == read_shared(tls(winner))


async def test_a_record_that_vanishes_is_an_error(store: Store, tmp_path: Path) -> None:
    racing = _Racing(store, b"x", vanish=True)
    await share_cluster_secrets(racing, tmp_path / "a", SECRET)  # type: ignore[arg-type]
    # the record published is ours; a vanished one on the way is reported
    racing.gets = 0

    async def create(key: str, value: bytes) -> KeyValue:
        from k3os.store import KeyExists

        raise KeyExists(key, None)

    racing.create = create  # type: ignore[method-assign]
    await store.delete(bootstrap_key(SECRET))
    with pytest.raises(SharedSecretsError, match="vanished"):
        await share_cluster_secrets(racing, tmp_path / "a", SECRET)  # type: ignore[arg-type]


def test_prepare_datastore_opens_and_closes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    opened: list[Store] = []

    async def fake_open(url: str) -> Store:
        assert url == "etcd://127.0.0.1:1"
        s = await open_store("memory://")
        opened.append(s)
        return s

    monkeypatch.setattr(sharedca, "open_store", fake_open)
    token = prepare_datastore("etcd://127.0.0.1:1", tmp_path, SECRET)
    assert token == SECRET
    assert read_shared(tls(tmp_path)) is not None
    assert len(opened) == 1
