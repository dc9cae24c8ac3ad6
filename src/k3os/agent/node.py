"""Registering the Node and keeping it alive: idempotent registration, the Lease in
`kube-node-lease` renewed every few seconds, and the Ready condition in the Node's status.

Registration is by name and writes only what changed. It starts with the status, patched
without a read (`status_json_patch`: it holds while the Node's Ready condition is what the
agent posts now, as after any restart of a healthy node); the Node in the answer tells
whether its labels differ, and one merge patch brings them, or no write at all. A Node that
is not there is created; one whose Ready changed (or that has none) is read and its status
merged with what it has. The status loop posts the same way: one request a round. Every
call is retried with backoff while the server is away; nothing here gives up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from k3os.agent.facts import (
    NodeFacts,
    label_patch,
    merge_ready,
    new_node,
    node_status,
    status_json_patch,
)
from k3os.agent.settings import LEASE_NAMESPACE
from k3os.client import (
    ApiStatusError,
    Backoff,
    ClientError,
    ConflictError,
    Informer,
    Kube,
    NotFoundError,
)
from k3os.client.resources import LEASES, NODES

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Now = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def micro_time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_object(name: str, duration: int, now: datetime) -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": duration,
            "renewTime": micro_time(now),
        },
    }


def seed_informer(informer: Informer, obj: Obj | None, since: str = "") -> bool:
    """Start `informer` (one object, by field selector) from a state the agent has just read
    or written, so it watches from there instead of listing: a list by field selector costs
    the server a scan of every object of the kind, and the agent has the one it wants.

    `obj`: the object (None: it does not exist); `since`: a version read or written before
    `obj` was read. The watch starts at the later of the two, so it misses no change and
    its start is recent. False (nothing done) when the informer has run already or there is
    no version to start from; a version the server no longer has makes it list as usual."""
    own = str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")
    versions = [int(v) for v in (own, since) if v.isdigit()]
    start = str(max(versions)) if versions else ""
    return informer.seed([obj] if obj is not None else [], start)


class NodeKeeper:
    """Registers the Node, renews its Lease and posts its status."""

    def __init__(
        self,
        kube: Kube,
        facts: Callable[[], NodeFacts],
        *,
        lease_duration: int = 40,
        backoff: Backoff | None = None,
        now: Now = _utcnow,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.kube = kube
        self.facts = facts
        self.lease_duration = lease_duration
        self.backoff = backoff or Backoff(initial=0.2, maximum=5.0, jitter=0.2)
        self.now = now
        self.sleep = sleep
        self.node: Obj | None = None
        self.registered = asyncio.Event()
        self.renewed = asyncio.Event()
        self.renewals = 0
        self.last_renewal: datetime | None = None
        self._lease: Obj | None = None  # the Lease as last written
        self.ready_problem: str | None = None
        """When set, the node reports Ready=False with this message."""

    @property
    def name(self) -> str:
        return self.facts().name

    async def retry(self, what: str, call: Callable[[], Any]) -> Any:
        failures = 0
        while True:
            try:
                return await call()
            except ClientError as e:
                failures += 1
                delay = self.backoff.delay(failures)
                level = logging.INFO if failures in (1, 10) else logging.DEBUG
                log.log(level, "%s failed (%s); retrying in %.1fs", what, e, delay)
                await self.sleep(delay)

    async def register(self, *, defer_labels: bool = False) -> Obj:
        """Create the Node, or bring the existing one up to date, and post its status.

        On a restart with nothing changed this is one request, the status.
        `defer_labels`: a start inside an upgrade leaves an existing Node's labels as they are;
        they go with the upgrade's outcome (`label_patch` of the Node as last written), so a
        version on trial never relabels the node, and a trial that falls back never did."""
        node: Obj = await self.retry(
            "registering the node", lambda: self._register_once(defer_labels=defer_labels)
        )
        self.node = node
        self.registered.set()
        return node

    async def _register_once(self, *, defer_labels: bool = False) -> Obj:
        facts = self.facts()
        if facts.refused_labels:
            log.warning(
                "not setting labels only the cluster may set: %s (label the node with kubectl)",
                ", ".join(facts.refused_labels),
            )
        try:
            node = await self._post()
        except NotFoundError:
            try:
                created = await self.kube.create(NODES, new_node(facts))
            except ConflictError:  # created in between (a create whose answer was lost)
                node = await self._post_merged(await self.kube.get(NODES, facts.name))
            else:
                log.info("registered node %s", facts.name)
                return await self._post_merged(created)
        patch = label_patch(facts, node)
        if patch is None:
            log.info("node %s was registered already; nothing to update", facts.name)
            return node
        if defer_labels:
            log.info("node %s was registered already; its labels follow the upgrade's outcome",
                     facts.name)  # fmt: skip
            return node
        node = await self.kube.patch(NODES, facts.name, patch)
        log.info("node %s was registered already; updated its labels", facts.name)
        return node

    async def sync_labels(self, node: Obj | None = None) -> None:
        """Bring labels to the current facts (after a config apply or an upgrade): one merge
        patch of what differs, none when nothing does. `node`: the Node as last seen, which
        spares the read."""
        facts = self.facts()
        if node is None:
            node = await self.kube.get(NODES, facts.name)
        patch = label_patch(facts, node)
        if patch is not None:
            self.node = await self.kube.patch(NODES, facts.name, patch)

    def pending_labels(self) -> Obj | None:
        """The merge patch that brings the Node as last written to the current facts' labels
        (None: nothing differs, or no Node is known yet)."""
        return label_patch(self.facts(), self.node) if self.node is not None else None

    async def post_status(self) -> None:
        """One status patch (Ready, nodeInfo, addresses) without a read; only a Node whose
        Ready changed is read and merged (`_post`)."""
        try:
            await self._post()
        except NotFoundError:
            # Deleted while we ran: register it again (which posts the status).
            self.node = await self._register_once()

    def _status(self) -> Obj:
        problem = self.ready_problem
        return node_status(self.facts(), self.now(), ready=problem is None, message=problem or "")

    async def _post(self) -> Obj:
        """The status as a JSON patch with its own precondition (`status_json_patch`), no
        read; when the server refuses it (422: the Node's Ready is not as posted), read and
        merged. NotFoundError when there is no Node."""
        patch = status_json_patch(self._status())
        try:
            self.node = await self.kube.patch(
                NODES, self.name, patch, patch_type="json", subresource="status"
            )
            return self.node
        except ApiStatusError as e:
            if e.code != 422:
                raise
        return await self._post_merged(await self.kube.get(NODES, self.name))

    async def _post_merged(self, current: Obj) -> Obj:
        """The status merged with the Node's conditions as `current` has them."""
        status = self._status()
        conditions = list((current.get("status") or {}).get("conditions") or [])
        status["conditions"] = merge_ready(conditions, status["conditions"][0])
        self.node = await self.kube.patch(
            NODES, self.name, {"status": status}, subresource="status"
        )
        return self.node

    async def renew_lease(self) -> None:
        """One renewal, one request. The Lease as last written is kept, so a renewal is an
        update guarded by its resourceVersion. The first renewal of a start (no Lease known
        yet), or one after a write found it changed or gone, is a merge patch of the spec,
        which needs no read and keeps what others wrote beside it; a Lease that is not there
        is created."""
        now = self.now()
        if self._lease is not None:
            try:
                self._lease = await self.kube.replace(LEASES, self._renewed(self._lease, now))
            except (ConflictError, NotFoundError):
                self._lease = None  # changed or gone: patched or made once more below
            else:
                self._count_renewal(now)
                return
        spec = lease_object(self.name, self.lease_duration, now)["spec"]
        try:
            self._lease = await self.kube.patch(
                LEASES, self.name, {"spec": spec}, namespace=LEASE_NAMESPACE
            )
        except NotFoundError:
            try:
                self._lease = await self.kube.create(
                    LEASES, lease_object(self.name, self.lease_duration, now)
                )
            except ConflictError:
                return  # made in between: the next round renews it
        self._count_renewal(now)

    def _renewed(self, lease: Obj, now: datetime) -> Obj:
        spec = dict(lease.get("spec") or {})
        spec.update(
            holderIdentity=self.name,
            leaseDurationSeconds=self.lease_duration,
            renewTime=micro_time(now),
        )
        return {**lease, "spec": spec}

    def _count_renewal(self, now: datetime) -> None:
        self.renewals += 1
        self.last_renewal = now
        self.renewed.set()

    async def first_renewal(self) -> bool:
        """The start's renewal, made before the watches are seeded (the health check of an
        upgrade waits for it): True when it landed; otherwise `keep_lease` retries."""
        try:
            await self.renew_lease()
        except ClientError as e:
            log.debug("the start's lease renewal failed (%s); the renewal loop retries", e)
            return False
        return self.renewed.is_set()

    async def keep_lease(self, interval: float, *, renewed: bool = False) -> None:
        """Renew the Lease every `interval` seconds, forever (`renewed`: the first renewal
        was made already, so the loop waits first)."""
        failures = 0
        if renewed:
            await self.sleep(interval)
        while True:
            try:
                await self.renew_lease()
                failures = 0
                await self.sleep(interval)
            except ClientError as e:
                failures += 1
                delay = min(self.backoff.delay(failures), interval)
                log.debug("lease renewal failed (%s); retrying in %.1fs", e, delay)
                await self.sleep(delay)

    async def keep_status(self, interval: float) -> None:
        """Post the node's status (Ready, nodeInfo) every `interval` seconds, forever."""
        while True:
            await self.sleep(interval)
            try:
                await self.post_status()
            except ClientError as e:
                log.debug("status update failed: %s", e)

    def healthy(self, within: float) -> str | None:
        """For the upgrade health check: None when the Lease was renewed recently."""
        if self.last_renewal is None:
            return "the node has not renewed its Lease yet"
        age = (self.now() - self.last_renewal).total_seconds()
        if age > within:
            return f"the node's Lease was last renewed {age:.0f}s ago"
        return None
