"""The store contract on a real etcd server started by the fixture."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aetcd import rpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from k3os.apiserver.app import build_app
from k3os.apiserver.context import ApiContext
from k3os.apiserver.server import seed
from k3os.store import (
    Conflict,
    InvalidStoreURL,
    KeyNotFound,
    Store,
    StoreOptions,
    StoreUnavailable,
    open_store,
)
from tests.unit.store.conformance import MakeStore, StoreConformance
from tests.unit.store.etcd_server import EtcdServer, free_port, run_etcd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    with run_etcd(tmp_path_factory.mktemp("etcd")) as server:
        yield server


@pytest.fixture
async def make_store(etcd: EtcdServer) -> AsyncIterator[MakeStore]:
    opened: list[Store] = []

    async def make(options: StoreOptions | None = None) -> Store:
        store = await open_store(etcd.url, options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


class TestEtcdConformance(StoreConformance):
    pass


async def test_several_endpoints_fail_over(etcd: EtcdServer) -> None:
    dead = free_port()
    port = etcd.url.rsplit(":", 1)[1]
    async with await open_store(f"etcd://127.0.0.1:{dead},127.0.0.1:{port}") as store:
        kv = await store.create("/failover/a", b"x")
        assert await store.get("/failover/a") == kv


async def test_k3s_style_http_url(etcd: EtcdServer) -> None:
    async with await open_store(etcd.client_url + "," + etcd.client_url) as store:
        assert await store.current_revision() >= 1


async def test_unreachable_etcd_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match="UNAVAILABLE"):
        await open_store(f"etcd://127.0.0.1:{free_port()}")


async def test_several_hostnames_are_refused() -> None:
    with pytest.raises(InvalidStoreURL, match="must be IP addresses"):
        await open_store("etcd://one.example:2379,two.example:2379")


async def test_watch_ends_when_etcd_goes_away(tmp_path: Path) -> None:
    with run_etcd(tmp_path) as server:
        store = await open_store(server.url)
        watch = await store.watch("/gone/")
        server.process.terminate()
        server.process.wait(10)
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(anext(watch), 30)
        with pytest.raises(StoreUnavailable):
            await store.create("/gone/a", b"x")
        await store.close()


# -- TLS --------------------------------------------------------------------------------


def _certificates(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    now = datetime.datetime.now(datetime.UTC)

    def make(
        name: str,
        issuer_key: ec.EllipticCurvePrivateKey | None,
        issuer: x509.Name | None,
        **kw: Any,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer or subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=kw.get("ca", False), path_length=None), True)
        )
        if "san" in kw:
            builder = builder.add_extension(x509.SubjectAlternativeName(kw["san"]), False)
        if "usage" in kw:
            builder = builder.add_extension(x509.ExtendedKeyUsage(kw["usage"]), False)
        return key, builder.sign(issuer_key or key, hashes.SHA256())

    ca_key, ca = make("test-ca", None, None, ca=True)
    server_key, server = make(
        "etcd",
        ca_key,
        ca.subject,
        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        usage=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    client_key, client = make("k3os", ca_key, ca.subject, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    files: dict[str, Path] = {}
    for name, obj in [("ca", ca), ("cert", server), ("client-cert", client)]:
        files[name] = directory / f"{name}.pem"
        files[name].write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    for name, key in [("key", server_key), ("client-key", client_key)]:
        files[name] = directory / f"{name}.pem"
        files[name].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return files


async def test_tls_with_client_certificates(tmp_path: Path) -> None:
    pki = _certificates(tmp_path)
    with run_etcd(tmp_path, tls={k: pki[k] for k in ("ca", "cert", "key")}) as server:
        url = (
            f"{server.client_url}?ca={pki['ca']}&cert={pki['client-cert']}&key={pki['client-key']}"
        )
        async with await open_store(url) as store:
            kv = await store.create("/tls/a", b"secret")
            assert await store.get("/tls/a") == kv
        # The same through options, with the etcd:// form.
        options = StoreOptions(
            ca_file=str(pki["ca"]),
            cert_file=str(pki["client-cert"]),
            key_file=str(pki["client-key"]),
        )
        async with await open_store(server.url, options) as store:
            assert (await store.get("/tls/a")) == kv
        # Without a client certificate etcd refuses us.
        with pytest.raises(StoreUnavailable):
            await open_store(f"{server.client_url}?ca={pki['ca']}")
    with pytest.raises(InvalidStoreURL, match="needs both cert and key"):
        await open_store(f"https://127.0.0.1:1?ca={pki['ca']}&cert={pki['client-cert']}")
    with pytest.raises(InvalidStoreURL, match=r"etcd TLS CA file /nonexistent\.pem"):
        await open_store("https://127.0.0.1:1?ca=/nonexistent.pem")


async def test_recent_items_are_this_clients_reads_and_writes(etcd: EtcdServer) -> None:
    """etcd keeps no event stream in the driver: `recent` is what this client read or
    wrote last, which another client's write makes stale (its compare-and-swap tells)."""
    async with (
        await open_store(etcd.url) as ours,
        await open_store(etcd.url) as theirs,
    ):
        assert ours.recent("/recent/a") is None
        a = await ours.create("/recent/a", b"1")
        assert ours.recent("/recent/a") == a
        a2 = await ours.update("/recent/a", b"2", expected_mod_revision=a.mod_revision)
        assert ours.recent("/recent/a") == a2
        a3 = await theirs.update("/recent/a", b"3", expected_mod_revision=a2.mod_revision)
        assert ours.recent("/recent/a") == a2  # stale: nothing told this client
        with pytest.raises(Conflict):
            await ours.update("/recent/a", b"x", expected_mod_revision=a2.mod_revision)
        assert ours.recent("/recent/a") == a3  # what the failed write found
        assert await ours.get("/recent/a", revision=a.mod_revision) == a  # a past read
        assert ours.recent("/recent/a") == a3
        await theirs.delete("/recent/a")
        with pytest.raises(KeyNotFound):
            await ours.update("/recent/a", b"y", expected_mod_revision=a3.mod_revision)
        assert ours.recent("/recent/a") is None
        b = await theirs.create("/recent/b", b"1")
        assert ours.recent("/recent/b") is None
        assert await ours.get("/recent/b") == b and ours.recent("/recent/b") == b
        await ours.delete("/recent/b")
        assert ours.recent("/recent/b") is None


async def test_two_servers_patching_one_object_lose_nothing(etcd: EtcdServer) -> None:
    """Two API servers on one etcd (as in HA), each starting its writes from what it last
    knew: the other's writes make that stale all the time, and every write still lands."""
    stores = [await open_store(etcd.url), await open_store(etcd.url)]
    clients = []
    try:
        for store in stores:
            ctx = ApiContext(store)
            await seed(ctx)
            ctx.ready.set()
            transport = httpx.ASGITransport(app=build_app(ctx))
            clients.append(httpx.AsyncClient(transport=transport, base_url="http://api"))
        path = "/api/v1/namespaces/default/configmaps"
        made = await clients[0].post(path, json={"metadata": {"name": "ha-shared"}})
        assert made.status_code == 201, made.text

        async def patcher(n: int) -> None:
            for round_ in range(6):
                r = await clients[(n + round_) % 2].patch(
                    f"{path}/ha-shared",
                    json={"data": {f"w{n}-{round_}": "x"}},
                    headers={"content-type": "application/merge-patch+json"},
                )
                assert r.status_code == 200, r.text

        await asyncio.gather(*(patcher(n) for n in range(8)))
        final = (await clients[1].get(f"{path}/ha-shared")).json()
        assert set(final["data"]) == {f"w{n}-{r}" for n in range(8) for r in range(6)}
    finally:
        for client in clients:
            await client.aclose()
        for store in stores:
            await store.close()


async def test_writes_of_one_ttl_share_a_lease_for_a_while(make_store: MakeStore) -> None:
    """As kube-apiserver: an hour's TTL takes a lease of an hour and a minute, handed to
    every write of that TTL for a minute; a short TTL gets a lease per write."""
    store = await make_store()
    a = await store.create("/lr/a", b"x", ttl=3600)
    b = await store.create("/lr/b", b"y", ttl=3600)
    a2 = await store.update("/lr/a", b"x2", expected_mod_revision=a.mod_revision, ttl=3600)
    assert a.lease != 0 and a.lease == b.lease == a2.lease
    leases = rpc.LeaseStub(store._channel)  # type: ignore[attr-defined]
    alive = await leases.LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=a.lease, keys=True))
    assert alive.grantedTTL == 3660 and alive.TTL > 3600
    assert sorted(alive.keys) == [b"/lr/a", b"/lr/b"]
    c = await store.create("/lr/c", b"z", ttl=5)
    d = await store.create("/lr/d", b"z", ttl=5)
    assert c.lease and d.lease and c.lease != d.lease and a.lease not in (c.lease, d.lease)
    plain = await store.create("/lr/e", b"z")
    assert plain.lease == 0


async def test_a_reused_lease_etcd_lost_is_replaced(make_store: MakeStore) -> None:
    """A lease revoked behind the store's back (or a restored cluster) costs no write: the
    put is made again under a new lease."""
    store = await make_store()
    a = await store.create("/lr2/a", b"x", ttl=3600)
    leases = rpc.LeaseStub(store._channel)  # type: ignore[attr-defined]
    await leases.LeaseRevoke(rpc.LeaseRevokeRequest(ID=a.lease))  # a goes with it
    assert await store.get("/lr2/a") is None
    b = await store.create("/lr2/b", b"y", ttl=3600)
    assert b.lease not in (0, a.lease)
    assert (await store.get("/lr2/b")) == b
    c = await store.create("/lr2/c", b"z", ttl=3600)
    assert c.lease == b.lease  # the new one is reused in turn
