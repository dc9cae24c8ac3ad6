"""Running the OS upgrades the Plan controller hands to this node, and reporting how they end.

The hand-off (docs/agent.md): the controller writes the node's record
`status.upgrade.k3os.io/<plan>` with phase `Applying` at the plan's hash. The agent starts
once the node is ready for it: at once for a plan that neither cordons nor drains, else
when the controller has rewritten the record with reason `Drained`. It finds the Plan of
that name whose `status.latestHash` is the record's hash, fetches the bundle
(`upgrade.image` with the version expanded), verifies and stages it into the inactive slot
and reboots. After the reboot the version on trial is health-checked and committed or
rolled back (k3os.agent.boot), and the agent rewrites the record: `Complete` at the hash,
or `Failed` with the reason, so the controller marks the node done or failed. It never
touches cordons or done labels: those are the controller's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from k3os.agent.boot import UpgradeJob, job_outcome
from k3os.agent.fetch import expand_image, fetch_from_server, is_url
from k3os.apis.keys import NODE_RECORD_PREFIX
from k3os.apis.noderecord import NodeUpgradeRecord, Phase, read_record, record_patch
from k3os.client import Cache, ClientError, Kube
from k3os.client.resources import NODES
from k3os.image import ImageError, StateArea, upgrade, verify_bundle

log = logging.getLogger(__name__)

Obj = dict[str, Any]
HANDOFF_REASON = "Drained"
"""The record reason with which the controller hands a drained node to its agent."""
WORKING_REASON = "Upgrading"


def plan_for(plans: Cache, name: str, hash_: str) -> Obj | None:
    """The Plan called `name` (in any namespace) whose latest hash is `hash_`."""
    for plan in plans:
        meta = plan.get("metadata") or {}
        status = plan.get("status") or {}
        if meta.get("name") == name and status.get("latestHash") == hash_:
            return plan
    return None


def ready_to_start(plan: Obj, record: NodeUpgradeRecord) -> bool:
    spec = plan.get("spec") or {}
    if not spec.get("cordon") and not spec.get("drain"):
        return True
    return record.reason == HANDOFF_REASON


def pending_upgrades(node: Obj) -> list[tuple[str, NodeUpgradeRecord]]:
    """(plan name, record) of every plan whose record on this node says Applying."""
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    out = []
    for key in sorted(annotations):
        if not key.startswith(NODE_RECORD_PREFIX):
            continue
        name = key.removeprefix(NODE_RECORD_PREFIX)
        record = read_record(annotations, name)
        if record is not None and record.phase == "Applying" and record.hash:
            out.append((name, record))
    return out


Recorder = Callable[[Obj, str, str, str], Awaitable[None]]


class Upgrader:
    def __init__(
        self,
        kube: Kube,
        node_name: str,
        state: StateArea,
        job_file: Path,
        *,
        nodes: Cache,
        plans: Cache,
        reboot: Callable[[], None],
        record: Recorder | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.node_name = node_name
        self.state = state
        self.job_file = job_file
        self.nodes = nodes
        self.plans = plans
        self.reboot = reboot
        self.record = record
        self.now = now
        self.wake = asyncio.Event()
        self.busy = False

    def on_change(self, change: str, obj: Obj, old: Obj | None) -> None:
        self.wake.set()

    def node(self) -> Obj | None:
        return self.nodes.get(self.node_name)

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if UpgradeJob.load(self.job_file) is not None:
                continue  # one upgrade at a time; the one in flight ends with a report
            node = self.node()
            if node is None:
                continue
            for name, rec in pending_upgrades(node):
                plan = plan_for(self.plans, name, rec.hash or "")
                if plan is None or not ready_to_start(plan, rec):
                    continue
                await self.start(node, plan, rec)
                break

    async def write_record(
        self, plan_name: str, hash_: str, phase: Phase, reason: str, message: str
    ) -> None:
        """Rewrite this node's record for the plan, keeping the retry token it holds."""
        node = await self.kube.get(NODES, self.node_name)
        annotations = (node.get("metadata") or {}).get("annotations") or {}
        old = read_record(annotations, plan_name)
        record = NodeUpgradeRecord(
            hash=hash_,
            phase=phase,
            since=self.now(),
            reason=reason,
            message=message[:1000],
            retry=old.retry if old is not None else "",
        )
        await self.kube.patch(NODES, self.node_name, record_patch(plan_name, record))

    async def _event(self, reason: str, message: str, type_: str = "Normal") -> None:
        if self.record is not None:
            node = self.node() or {"metadata": {"name": self.node_name}}
            await self.record({**node, "kind": "Node", "apiVersion": "v1"}, reason, message, type_)

    async def start(self, node: Obj, plan: Obj, rec: NodeUpgradeRecord) -> None:
        meta = plan.get("metadata") or {}
        status = plan.get("status") or {}
        image = str(((plan.get("spec") or {}).get("upgrade") or {}).get("image") or "")
        ref = expand_image(image, str(status.get("latestVersion") or ""))
        job = UpgradeJob(
            plan=str(meta.get("name")),
            namespace=str(meta.get("namespace") or ""),
            hash=rec.hash or "",
            image=ref,
            previous=self.state.read_record().booted or "",
        )
        job.save(self.job_file)
        await self.write_record(job.plan, job.hash, "Applying", WORKING_REASON, f"fetching {ref}")
        await self._event("UpgradeStarted", f"plan {job.namespace}/{job.plan}: fetching {ref}")
        try:
            staged = await self.stage(job)
        except (ImageError, ClientError, OSError) as e:
            reason = "FetchFailed" if isinstance(e, ClientError | OSError) else "StageFailed"
            if type(e).__name__ in ("SignatureError", "UntrustedKeyError", "ChecksumError"):
                reason = "VerificationFailed"
            elif type(e).__name__ == "DownloadError":
                reason = "FetchFailed"
            await self.finish(job, "Failed", reason, f"{ref}: {e}")
            return
        if staged is None:
            return  # finished already (the version was running)
        staged.save(self.job_file)
        await self.write_record(
            job.plan, job.hash, "Applying", WORKING_REASON, f"rebooting into {staged.version}"
        )
        await self._event("Rebooting", f"rebooting into {staged.version} to try it")
        self.reboot()

    async def stage(self, job: UpgradeJob) -> UpgradeJob | None:
        """Fetch, verify and stage; None when the version is already the one running."""
        if is_url(job.image):
            source = job.image
        else:
            name = job.image.replace("/", "_")
            dest = self.state.downloads / f"server-{name}"
            source = str(await fetch_from_server(self.kube, job.image, dest))
        version = await asyncio.to_thread(self._verified_version, source)
        if version is not None:
            record = self.state.read_record()
            if record.booted == version and record.trial is None:
                done = UpgradeJob(**{**job.__dict__, "version": version})
                await self.finish(done, "Complete", "Upgraded", f"{version} is already running")
                return None
        result = await asyncio.to_thread(upgrade, self.state, source, reinstall=True)
        return UpgradeJob(**{**job.__dict__, "version": result.version, "stage": "staged"})

    def _verified_version(self, source: str) -> str | None:
        if is_url(source) and not source.startswith("file://"):
            return None  # checked by upgrade() after its download
        from k3os.image.keys import load_trusted

        path = Path(source.removeprefix("file://"))
        bundle = verify_bundle(path, load_trusted([self.state.trusted_dir]))
        return bundle.manifest.version

    async def finish(self, job: UpgradeJob, phase: Phase, reason: str, message: str) -> None:
        """Report how the job ended and forget it."""
        await self.write_record(job.plan, job.hash, phase, reason, message)
        if phase == "Complete":
            await self._event("UpgradeComplete", f"plan {job.namespace}/{job.plan}: {message}")
        else:
            await self._event(
                "UpgradeFailed", f"plan {job.namespace}/{job.plan}: {message}", "Warning"
            )
        self.job_file.unlink(missing_ok=True)
        self.wake.set()

    async def resume(self) -> bool:
        """After a (re)start: report a job the state area says has ended. True when a job is
        still on trial and needs the health check."""
        job = UpgradeJob.load(self.job_file)
        if job is None:
            return False
        if job.stage != "staged":
            # Stopped while fetching: nothing was switched; start over from the record.
            self.job_file.unlink(missing_ok=True)
            self.wake.set()
            return False
        phase, reason, message = job_outcome(job, self.state)
        if phase == "Pending":
            return True
        await self.finish(job, phase, reason, message)
        return False
