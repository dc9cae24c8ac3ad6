"""`etcd://h:p[,h:p]` and `http(s)://h:p[,h:p]`: the store on an etcd v3 cluster.

Speaks etcd's gRPC API through the protobuf stubs that `aetcd` ships (its high-level
client has no TLS and no transactions returning prev_kv, so we drive the stubs directly).
Compare-and-swap is one etcd transaction per write; TTLs are etcd leases, reused across
writes for a while as kube-apiserver reuses them (`_LeaseReuse`); each `Watch` is its own
gRPC watch stream with `prev_kv`. Revisions are etcd's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

import grpc
from aetcd import rpc

from k3os.store._background import AutoCompactor
from k3os.store._errors import (
    Compacted,
    Conflict,
    FutureRevision,
    InvalidStoreURL,
    KeyExists,
    KeyNotFound,
    StoreClosed,
    StoreUnavailable,
)
from k3os.store._interface import Store, Watch
from k3os.store._model import (
    DeleteResult,
    Event,
    EventType,
    KeyValue,
    RangeResult,
    StoreOptions,
    prefix_end,
)
from k3os.store._recent import ABSENT, Recent
from k3os.store._registry import StoreURL

log = logging.getLogger(__name__)

TIMEOUT = 10.0
_ALL = b"\0"  # as a range end: every key >= the start key
LEASE_REUSE_SECONDS = 60.0  # kube-apiserver's --lease-reuse-duration-seconds default
LEASE_REUSE_SHARE = 0.05  # ... and at most this share of the TTL


class _LeaseReuse:
    """One etcd lease for the writes of one TTL within a short window, as kube-apiserver
    does: a lease per write (every Event) would leave etcd a lease, and its expiry timer,
    per key. The lease is granted for `ttl + window` and handed out for `window` seconds
    from the moment it was asked for, so each key still lives at least its TTL, and at
    most `window` longer (5 % of the TTL, at most a minute: an hour's Event up to a
    minute more). TTLs under 20 s get a lease of their own per write."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[int, float]] = {}  # ttl -> (lease, asked at)

    @staticmethod
    def window(ttl: int) -> int:
        return math.floor(min(LEASE_REUSE_SECONDS, LEASE_REUSE_SHARE * ttl))

    def reusable(self, ttl: int) -> int:
        """A lease still good for `ttl` seconds from now (0: none)."""
        held = self._held.get(ttl)
        if held is None or time.monotonic() - held[1] > self.window(ttl):
            return 0
        return held[0]

    def granted(self, ttl: int, lease: int, asked_at: float) -> None:
        if self.window(ttl) >= 1:
            self._held[ttl] = (lease, asked_at)

    def forget(self, ttl: int) -> None:
        self._held.pop(ttl, None)


def _kv(raw: Any) -> KeyValue:
    return KeyValue(
        raw.key.decode(), raw.value, raw.create_revision, raw.mod_revision, raw.version, raw.lease
    )


def _bounds(prefix: str, start_after: str | None = None) -> tuple[bytes, bytes]:
    if start_after is not None and start_after >= prefix:
        start = start_after.encode() + b"\0"
    else:
        start = prefix.encode() or b"\0"
    end = prefix_end(prefix)
    return start, end.encode() if end is not None else _ALL


def _target(url: StoreURL) -> str:
    """A gRPC target: one host:port, or several IP literals that gRPC fails over between."""
    if len(url.endpoints) == 1:
        host, port = url.endpoints[0]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        addresses = [ipaddress.ip_address(host) for host, _ in url.endpoints]
    except ValueError:
        raise InvalidStoreURL(
            f"datastore URL {url.raw!r}: several etcd endpoints must be IP addresses "
            "(or use one DNS name that resolves to all members)"
        ) from None
    if all(a.version == 4 for a in addresses):
        return "ipv4:" + ",".join(
            f"{a}:{p}" for a, (_, p) in zip(addresses, url.endpoints, strict=True)
        )
    return "ipv6:" + ",".join(
        f"[{a}]:{p}" for a, (_, p) in zip(addresses, url.endpoints, strict=True)
    )


def _read(path: str | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise InvalidStoreURL(f"etcd TLS {what} file {path}: {e.strerror}") from e


def _channel(url: StoreURL, options: StoreOptions) -> grpc.aio.Channel:
    target = _target(url)
    if not url.tls:
        return grpc.aio.insecure_channel(target)
    if (options.cert_file is None) != (options.key_file is None):
        raise InvalidStoreURL(
            f"datastore URL {url.raw!r}: a client certificate needs both cert and key"
        )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(options.ca_file, "CA"),
        private_key=_read(options.key_file, "key"),
        certificate_chain=_read(options.cert_file, "certificate"),
    )
    return grpc.aio.secure_channel(target, credentials)


class EtcdStore(Store):
    def __init__(self, url: StoreURL, options: StoreOptions) -> None:
        self._url = url
        self._channel = _channel(url, options)
        self._kv = rpc.KVStub(self._channel)
        self._leases = rpc.LeaseStub(self._channel)
        self._watch_stub = rpc.WatchStub(self._channel)
        self._watches: set[EtcdWatch] = set()
        self._recent = Recent()
        self._reuse = _LeaseReuse()
        self._compactor = AutoCompactor.for_options(self.current_revision, self.compact, options)
        self._closed = False

    def start(self) -> None:
        self._compactor.start("store-etcd-compactor")

    # -- plumbing ----------------------------------------------------------------------

    async def _call(self, method: Any, request: Any, revision: int = 0) -> Any:
        self._check_open()
        try:
            return await method(request, timeout=TIMEOUT)
        except grpc.aio.AioRpcError as e:
            await self._raise(e, revision)

    async def _raise(self, error: grpc.aio.AioRpcError, revision: int) -> NoReturn:
        details = error.details() or ""
        if "required revision has been compacted" in details:
            raise Compacted(revision, await self._compact_revision()) from error
        if "required revision is a future revision" in details:
            raise FutureRevision(revision, await self.current_revision()) from error
        if self._closed:
            raise StoreClosed("the store is closed") from error
        raise StoreUnavailable(
            f"etcd at {self._url.raw}: {error.code().name}: {details}"
        ) from error

    async def _compact_revision(self) -> int:
        """etcd tells a watch that starts before its compact revision what that revision
        is; a watch from revision 1 that sees events instead has nothing compacted."""
        stop = asyncio.Event()

        async def requests() -> AsyncIterator[Any]:
            create = rpc.WatchCreateRequest(key=b"\0", range_end=_ALL, start_revision=1)
            yield rpc.WatchRequest(create_request=create)
            await stop.wait()

        call = self._watch_stub.Watch(requests(), timeout=TIMEOUT)
        try:
            async with asyncio.timeout(2.0):
                async for response in call:
                    if response.compact_revision:
                        return int(response.compact_revision)
                    if response.events:
                        return 0
        except (TimeoutError, grpc.aio.AioRpcError):
            pass
        finally:
            stop.set()
            call.cancel()
        return 0

    # -- reads -------------------------------------------------------------------------

    async def current_revision(self) -> int:
        response = await self._call(self._kv.Range, rpc.RangeRequest(key=b"\0", count_only=True))
        return int(response.header.revision)

    def recent(self, key: str) -> KeyValue | None:
        """What this client last read or wrote of the key: current unless another client
        wrote it since (no event stream keeps these), which the write's compare decides."""
        return None if self._closed else self._recent.get(key)

    async def _get(self, key: str, revision: int) -> KeyValue | None:
        request = rpc.RangeRequest(key=key.encode(), revision=revision)
        response = await self._call(self._kv.Range, request, revision)
        kv = _kv(response.kvs[0]) if response.kvs else None
        if not revision:
            if kv is None:
                self._recent.forget(key, ABSENT)
            else:
                self._recent.remember(kv)
        return kv

    async def _range(
        self, prefix: str, revision: int, limit: int, start_after: str | None
    ) -> RangeResult:
        start, end = _bounds(prefix, start_after)
        request = rpc.RangeRequest(key=start, range_end=end, limit=limit, revision=revision)
        response = await self._call(self._kv.Range, request, revision)
        return RangeResult(
            [_kv(raw) for raw in response.kvs],
            revision or int(response.header.revision),
            bool(response.more),
            int(response.count),
        )

    # -- writes ------------------------------------------------------------------------

    async def _lease(self, ttl: int | None) -> int:
        if ttl is None:
            return 0
        lease = self._reuse.reusable(ttl)
        if lease:
            return lease
        asked_at = time.monotonic()
        grant = rpc.LeaseGrantRequest(TTL=ttl + self._reuse.window(ttl))
        lease = int((await self._call(self._leases.LeaseGrant, grant)).ID)
        self._reuse.granted(ttl, lease, asked_at)
        return lease

    async def _leased_txn(
        self, raw: bytes, compare: list[Any], put: Any, ttl: int | None
    ) -> tuple[Any, int]:
        """A put under `ttl`'s lease; if etcd no longer knows a reused lease (revoked, or a
        restored cluster), once more with a new one. The answer and the lease used."""
        for last in (False, True):
            lease = await self._lease(ttl)
            put.request_put.lease = lease
            try:
                return await self._txn(raw, compare, put), lease
            except StoreUnavailable as e:
                if last or ttl is None or "lease not found" not in str(e):
                    raise
                self._reuse.forget(ttl)
        raise AssertionError("unreachable: the last try returns or raises")

    async def _txn(self, key: bytes, compare: list[Any], success: Any) -> Any:
        request = rpc.TxnRequest(
            compare=compare,
            success=[success],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=key))],
        )
        return await self._call(self._kv.Txn, request)

    @staticmethod
    def _compare(key: bytes, target: str, result: str, value: int) -> Any:
        compare = rpc.Compare(
            key=key,
            target=getattr(rpc.Compare.CompareTarget, target),
            result=getattr(rpc.Compare.CompareResult, result),
        )
        setattr(
            compare,
            {"CREATE": "create_revision", "MOD": "mod_revision"}.get(target, "version"),
            value,
        )
        return compare

    def _found(self, key: str, response: Any) -> KeyValue | None:
        """What a failed write found instead (None: absent), kept as the key's recent item."""
        kvs = response.responses[0].response_range.kvs
        if not kvs:
            self._recent.forget(key, ABSENT)
            return None
        return self._remembered(_kv(kvs[0]))

    def _remembered(self, kv: KeyValue) -> KeyValue:
        self._recent.remember(kv)
        return kv

    async def _create(self, key: str, value: bytes, ttl: int | None) -> KeyValue:
        raw = key.encode()
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value))
        compare = [self._compare(raw, "CREATE", "EQUAL", 0)]
        response, lease = await self._leased_txn(raw, compare, put, ttl)
        if not response.succeeded:
            raise KeyExists(key, self._found(key, response))
        revision = int(response.header.revision)
        return self._remembered(KeyValue(key, value, revision, revision, 1, lease))

    async def _update(
        self, key: str, value: bytes, expected_mod_revision: int, ttl: int | None
    ) -> KeyValue:
        raw = key.encode()
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value, prev_kv=True))
        compare = [
            self._compare(raw, "MOD", "EQUAL", expected_mod_revision),
            self._compare(raw, "VERSION", "GREATER", 0),
        ]
        response, lease = await self._leased_txn(raw, compare, put, ttl)
        if not response.succeeded:
            current = self._found(key, response)
            if current is None:
                raise KeyNotFound(key)
            raise Conflict(key, current)
        prev = response.responses[0].response_put.prev_kv
        revision = int(response.header.revision)
        return self._remembered(
            KeyValue(key, value, prev.create_revision, revision, prev.version + 1, lease)
        )

    async def _delete(self, key: str, expected_mod_revision: int | None) -> DeleteResult:
        raw = key.encode()
        compare = [self._compare(raw, "VERSION", "GREATER", 0)]
        if expected_mod_revision is not None:
            compare.append(self._compare(raw, "MOD", "EQUAL", expected_mod_revision))
        op = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=raw, prev_kv=True))
        response = await self._txn(raw, compare, op)
        if not response.succeeded:
            current = self._found(key, response)
            if current is None:
                raise KeyNotFound(key)
            raise Conflict(key, current)
        prev = response.responses[0].response_delete_range.prev_kvs[0]
        revision = int(response.header.revision)
        self._recent.forget(key, revision)
        return DeleteResult(_kv(prev), revision)

    # -- watch, compaction, lifecycle --------------------------------------------------

    async def _watch(self, prefix: str, start_revision: int | None) -> Watch:
        self._check_open()
        if start_revision is not None and start_revision > 1:
            # A read just before the start tells compacted (start <= compact revision)
            # and future starts apart the same way the other drivers do.
            before = start_revision - 1
            await self._call(
                self._kv.Range,
                rpc.RangeRequest(key=b"\0", count_only=True, revision=before),
                before,
            )
        start, end = _bounds(prefix)
        create = rpc.WatchCreateRequest(
            key=start, range_end=end, start_revision=start_revision or 0, prev_kv=True
        )
        watch = EtcdWatch(self, create, start_revision or 0)
        await watch.open()
        self._watches.add(watch)
        return watch

    async def compact(self, revision: int) -> None:
        with contextlib.suppress(Compacted):  # already compacted at or beyond it
            await self._call(self._kv.Compact, rpc.CompactionRequest(revision=revision), revision)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._compactor.close()
        for watch in list(self._watches):
            await watch.aclose()
        await self._channel.close()


class EtcdWatch(Watch):
    def __init__(self, store: EtcdStore, create: Any, start_revision: int) -> None:
        self._store = store
        self._create = create
        self._start = start_revision
        self._requests: asyncio.Queue[Any] = asyncio.Queue()
        self._call: Any = None
        self._responses: AsyncIterator[Any] | None = None
        self._buffer: deque[Event] = deque()
        self._closed = False

    async def _request_stream(self) -> AsyncIterator[Any]:
        while True:
            request = await self._requests.get()
            if request is None:
                return
            yield request

    async def open(self) -> None:
        self._requests.put_nowait(rpc.WatchRequest(create_request=self._create))
        self._call = self._store._watch_stub.Watch(self._request_stream())
        self._responses = self._call.__aiter__()
        response = await asyncio.wait_for(self._next_response(), TIMEOUT)
        if not response.created:  # pragma: no cover - etcd always confirms first
            raise StoreUnavailable("etcd did not confirm the watch")
        self._check_cancelled(response)

    def _check_cancelled(self, response: Any) -> None:
        if response.compact_revision:
            self._shutdown()
            raise Compacted(self._start, int(response.compact_revision))
        if response.canceled:
            self._shutdown()
            raise StoreUnavailable(f"etcd cancelled the watch: {response.cancel_reason}")

    async def _next_response(self) -> Any:
        assert self._responses is not None
        try:
            return await anext(self._responses)
        except (StopAsyncIteration, asyncio.CancelledError, grpc.aio.AioRpcError) as e:
            if self._closed or self._store._closed:
                raise StoreClosed("the watch was closed") from None
            if isinstance(e, asyncio.CancelledError):
                raise
            raise StoreUnavailable(f"etcd watch stream ended: {e}") from e

    async def __anext__(self) -> Event:
        while not self._buffer:
            if self._closed:
                raise StoreClosed("the watch was closed")
            response = await self._next_response()
            self._check_cancelled(response)
            for raw in response.events:
                prev = _kv(raw.prev_kv) if raw.HasField("prev_kv") else None
                if raw.type == rpc.Event.EventType.DELETE:
                    kv = KeyValue(raw.kv.key.decode(), b"", 0, raw.kv.mod_revision, 0)
                    self._buffer.append(Event(EventType.DELETE, kv, prev))
                else:
                    self._buffer.append(Event(EventType.PUT, _kv(raw.kv), prev))
        return self._buffer.popleft()

    def _shutdown(self) -> None:
        self._closed = True
        self._requests.put_nowait(None)
        if self._call is not None:
            self._call.cancel()

    async def aclose(self) -> None:
        if not self._closed:
            self._shutdown()
        self._store._watches.discard(self)


async def open_etcd(url: StoreURL, options: StoreOptions) -> Store:
    store = EtcdStore(url, options)
    try:
        await store.current_revision()
    except StoreUnavailable:
        await store.close()
        raise
    store.start()
    return store
