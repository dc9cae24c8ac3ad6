"""Leader election on a coordination.k8s.io/v1 Lease, as client-go does it.

A candidate takes the Lease when it is free (no holder) or expired, renews it every
`retry_period` while it leads, and gives up leading (cancelling the work) if it cannot renew
for `renew_deadline`. Expiry is judged on the candidate's own clock: a Lease is expired
when its record has not changed for `leaseDurationSeconds` since this candidate saw it
change, so clock skew between machines does not matter. On shutdown the leader releases
the Lease (clears the holder), so a successor need not wait for it to expire.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from k3os.client.clock import Clock, SystemClock
from k3os.client.errors import ClientError, ConflictError, NotFoundError
from k3os.client.kube import Kube
from k3os.client.resources import LEASES

__all__ = ["LeaderElector", "LeaseSettings", "default_identity", "micro_time"]

log = logging.getLogger(__name__)

RELEASE_ATTEMPTS = 3  # reads and writes of the Lease on shutdown, each after a conflict

Obj = dict[str, Any]


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def micro_time(clock: Clock) -> str:
    return clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseSettings:
    name: str
    namespace: str = "kube-system"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry_period < renew_deadline < lease_duration; "
                f"got {self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


class _Attempt(enum.Enum):
    HELD = "held"  # we hold the Lease now
    TAKEN = "taken"  # another candidate holds a Lease that has not expired
    FAILED = "failed"  # no answer, or a conflicting write: try again


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        settings: LeaseSettings,
        identity: str | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.identity = identity or default_identity()
        self.clock: Clock = clock or SystemClock()
        self.is_leader = False
        self.leading = asyncio.Event()
        self.observed_holder = ""
        self._observed_rv = ""
        self._observed_at = 0.0

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Until cancelled: wait for the Lease, run `lead()` while holding it, start over
        if leadership is lost. The Lease is released when this is cancelled."""
        try:
            while True:
                await self._acquire()
                await self._lead(lead)
        finally:
            # Also when no attempt is known to have won: one cancelled after the server
            # wrote the Lease but before its answer came back holds it all the same.
            # `release` gives it up only if the Lease names us.
            await self.release()

    async def _acquire(self) -> None:
        while True:
            if await self._try() is _Attempt.HELD:
                log.info("%s: became leader of %s", self.identity, self.settings.name)
                self.is_leader = True
                self.leading.set()
                return
            await self.clock.sleep(self.settings.retry_period)

    async def _lead(self, lead: Callable[[], Awaitable[None]]) -> None:
        async def work() -> None:
            await lead()

        async with asyncio.TaskGroup() as tg:
            tasks = {
                tg.create_task(work(), name=f"leader:{self.settings.name}"),
                tg.create_task(self._renew(), name=f"lease-renewal:{self.settings.name}"),
            }
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()

    async def _renew(self) -> None:
        last_renewed = self.clock.monotonic()
        while True:
            await self.clock.sleep(self.settings.retry_period)
            attempt = await self._try()
            if attempt is _Attempt.HELD:
                last_renewed = self.clock.monotonic()
                continue
            overdue = self.clock.monotonic() - last_renewed >= self.settings.renew_deadline
            if attempt is _Attempt.TAKEN or overdue:
                log.warning("%s: lost the lease %s", self.identity, self.settings.name)
                self.is_leader = False
                self.leading.clear()
                return

    async def _try(self) -> _Attempt:
        """Take or renew the Lease once."""
        s = self.settings
        try:
            lease = await self.kube.get(LEASES, s.name, s.namespace)
        except NotFoundError:
            return await self._create()
        except ClientError as e:
            log.debug("%s: reading lease: %s", self.identity, e)
            return _Attempt.FAILED
        meta, spec = lease["metadata"], lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        now = self.clock.monotonic()
        if meta.get("resourceVersion") != self._observed_rv:
            self._observed_rv = str(meta.get("resourceVersion"))
            self._observed_at = now
            self.observed_holder = holder
        duration = float(spec.get("leaseDurationSeconds") or s.lease_duration)
        if holder and holder != self.identity and now < self._observed_at + duration:
            return _Attempt.TAKEN
        stamp = micro_time(self.clock)
        new_spec = {
            **spec,
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(s.lease_duration),
            "renewTime": stamp,
        }
        if holder != self.identity:
            new_spec["acquireTime"] = stamp
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
                1 if holder else 0
            )
        return await self._write({**lease, "spec": new_spec})

    async def _create(self) -> _Attempt:
        s = self.settings
        stamp = micro_time(self.clock)
        lease: Obj = {
            "metadata": {"name": s.name, "namespace": s.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": math.ceil(s.lease_duration),
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
        try:
            created = await self.kube.create(LEASES, lease)
        except ClientError as e:
            log.debug("%s: creating lease: %s", self.identity, e)
            return _Attempt.FAILED
        self._observe(created)
        return _Attempt.HELD

    async def _write(self, lease: Obj) -> _Attempt:
        try:
            written = await self.kube.replace(LEASES, lease)
        except ConflictError:
            return _Attempt.FAILED
        except ClientError as e:
            log.debug("%s: writing lease: %s", self.identity, e)
            return _Attempt.FAILED
        self._observe(written)
        return _Attempt.HELD

    def _observe(self, lease: Obj) -> None:
        self._observed_rv = str(lease["metadata"].get("resourceVersion"))
        self._observed_at = self.clock.monotonic()
        self.observed_holder = str((lease.get("spec") or {}).get("holderIdentity") or "")

    async def release(self) -> None:
        """Give the Lease up now (if we still hold it) so a successor takes it at once."""
        self.is_leader = False
        self.leading.clear()
        s = self.settings
        # A conflict is most often our own renewal landing after the read (a write
        # cancelled with the renewal loop that the server still made): read again.
        for attempt in range(RELEASE_ATTEMPTS):
            try:
                lease = await self.kube.get(LEASES, s.name, s.namespace)
                spec = lease.get("spec") or {}
                if spec.get("holderIdentity") != self.identity:
                    return
                stamp = micro_time(self.clock)
                spec = {**spec, "holderIdentity": None, "leaseDurationSeconds": 1,
                        "renewTime": stamp, "acquireTime": stamp}  # fmt: skip
                await self.kube.replace(LEASES, {**lease, "spec": spec})
                log.info("%s: released the lease %s", self.identity, s.name)
                return
            except ClientError as e:
                if isinstance(e, ConflictError) and attempt + 1 < RELEASE_ATTEMPTS:
                    continue
                log.info("%s: could not release the lease %s: %s", self.identity, s.name, e)
                return
