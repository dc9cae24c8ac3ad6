"""Running the OS upgrades the Plan controller hands to this node, and answering how they end.

The hand-off is `k3os.apis.handoff`: once the node is cordoned and drained, the controller
writes the request `request.upgrade.k3os.io/<plan>` (hash, version, bundle reference). The
agent acts on a request while no outcome for that hash exists: it fetches the bundle (a
URL, or the server's image store), verifies and stages it into the inactive slot and
reboots. After the reboot the version on trial is health-checked and committed or rolled
back (k3os.agent.boot), and the agent writes the outcome `outcome.upgrade.k3os.io/<plan>`:
`Complete` with the version it booted, or `Failed` with why. The controller turns that into
the node's record. The agent never touches cordons; it writes the node's record and done
labels only when the controller put a finish beside the request (a plan with nothing
left to decide after a success: `k3os.apis.handoff`), in the same write as its
`Complete` outcome.

Each upgrade records two Events on the Node, kept few because a fleet's rollout pays for
every write: `UpgradeStarted` (the version, the image, and that a reboot follows) and, at
the end, `UpgradeComplete` or a Warning `UpgradeFailed` with the outcome's message. The
steps in between (staging, the reboot, the health check) go to the agent's log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from k3os.agent.boot import UpgradeJob, job_outcome
from k3os.agent.configsync import NOT_MANAGED
from k3os.agent.fetch import fetch_from_server, is_url
from k3os.apis.keys import REQUEST_PREFIX
from k3os.client import Cache, ClientError, Kube
from k3os.client.resources import NODES
from k3os.image import DownloadError, ImageError, StateArea, upgrade, verify_bundle

if TYPE_CHECKING:
    from k3os.apis.handoff import UpgradeOutcome, UpgradeRequest

# The hand-off's models (pydantic) are imported when a node carries a request: an agent
# at rest has none, and does not load them.

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Phase = Literal["Complete", "Failed"]
FETCH_ATTEMPTS = 4
"""A bundle that cannot be fetched is tried this many times (network loss) before failing."""
_VERIFY_ERRORS = ("SignatureError", "UntrustedKeyError", "ChecksumError", "BundleError")


def open_requests(node: Obj) -> list[tuple[str, UpgradeRequest]]:
    """(plan name, request) of every request on this node that has no outcome yet."""
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    if not any(key.startswith(REQUEST_PREFIX) for key in annotations):
        return []
    from k3os.apis.handoff import read_outcome, requests_on

    out = []
    for name, request in sorted(requests_on(annotations).items()):
        outcome = read_outcome(annotations, name)
        if outcome is None or outcome.hash != request.hash:
            out.append((name, request))
    return out


def outcome_patch(
    plan_name: str, outcome: UpgradeOutcome, labels: Obj | None = None, node: Obj | None = None
) -> Obj:
    """The merge patch answering `plan_name`'s request with `outcome`, carrying `labels` (a
    `label_patch`: the label changes a start inside an upgrade left to it) in the same write,
    and the node's finish when a finish beside the request on `node` (as last seen) leaves
    it to the agent (`k3os.apis.handoff.agent_finish`)."""
    from k3os.apis.handoff import agent_finish, outcome_key

    meta: Obj = dict((labels or {}).get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}),
                           outcome_key(plan_name): outcome.encode()}  # fmt: skip
    annotations = ((node or {}).get("metadata") or {}).get("annotations") or {}
    finish = agent_finish(annotations, plan_name, outcome)
    if finish is not None:
        meta["labels"] = {**(meta.get("labels") or {}), **finish["metadata"]["labels"]}
        meta["annotations"].update(finish["metadata"]["annotations"])
    return {"metadata": meta}


def failure_reason(error: Exception) -> str:
    name = type(error).__name__
    if name in _VERIFY_ERRORS:
        return "VerificationFailed"
    if name == "DownloadError" or isinstance(error, ClientError | OSError):
        return "FetchFailed"
    return "StageFailed"


Recorder = Callable[[Obj, str, str, str], Awaitable[None]]


class _Answers:
    """What answers a node's upgrade requests: the node as the cache has it, the outcome's
    write (never lost), and the Events on the Node."""

    def __init__(
        self,
        kube: Kube,
        node_name: str,
        *,
        nodes: Cache,
        record: Recorder | None = None,
        labels: Callable[[], Obj | None] | None = None,
        written: Callable[[Obj], None] | None = None,
    ) -> None:
        self.kube = kube
        self.node_name = node_name
        self.nodes = nodes
        self.record = record
        self.labels = labels
        """The label changes the outcome's patch carries (the registration of a start inside
        an upgrade leaves them to it)."""
        self.written = written
        """Told the Node as the outcome's patch left it."""
        self.wake = asyncio.Event()
        # plan -> (hash, resourceVersion of the Node our outcome was written at). Until the
        # node cache has caught up with that write, a request it still shows as open has
        # been answered; a later Node (the controller asking again) is a real retry.
        self.answered: dict[str, tuple[str, int]] = {}

    def on_change(self, change: str, obj: Obj, old: Obj | None) -> None:
        self.wake.set()

    def node(self) -> Obj | None:
        return self.nodes.get(self.node_name)

    async def _unanswered(self) -> list[tuple[str, UpgradeRequest]]:
        """After the next change: the node's requests not answered yet (as far as the node
        cache has caught up with our own outcomes)."""
        await self.wake.wait()
        self.wake.clear()
        node = self.node()
        if node is None:
            return []
        return [
            (name, request)
            for name, request in open_requests(node)
            if not self._answered_but_unseen(name, request, node)
        ]

    def _answered_but_unseen(self, name: str, request: UpgradeRequest, node: Obj) -> bool:
        answered = self.answered.get(name)
        if answered is None or answered[0] != request.hash:
            return False
        seen = int((node.get("metadata") or {}).get("resourceVersion") or 0)
        return seen < answered[1]

    async def write_outcome(self, plan_name: str, outcome: UpgradeOutcome) -> None:
        """Write the outcome, with the node's pending label changes in the same patch,
        retrying while the server is away: it must not get lost."""
        patch = outcome_patch(
            plan_name, outcome, self.labels() if self.labels else None, self.node()
        )
        failures = 0
        while True:
            try:
                stored = await self.kube.patch(NODES, self.node_name, patch)
                version = int((stored.get("metadata") or {}).get("resourceVersion") or 0)
                self.answered[plan_name] = (outcome.hash, version)
                if self.written is not None:
                    self.written(stored)
                return
            except ClientError as e:
                failures += 1
                log.info("writing the upgrade outcome failed (%s); retrying", e)
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))

    async def _event(self, reason: str, message: str, type_: str = "Normal") -> None:
        if self.record is not None:
            node = self.node() or {"metadata": {"name": self.node_name}}
            await self.record({**node, "kind": "Node", "apiVersion": "v1"}, reason, message, type_)


class Unmanaged(_Answers):
    """The agent of a node with no k3os system to upgrade (no root, or a root without a state
    area) answers every request `Failed` at once (`NOT_MANAGED`, saying why), so a Plan that
    selects the node reports it and moves on instead of holding a slot until its deadline,
    or forever without one."""

    def __init__(self, kube: Kube, node_name: str, why: str, *, nodes: Cache,
                 record: Recorder | None = None) -> None:  # fmt: skip
        super().__init__(kube, node_name, nodes=nodes, record=record)
        self.why = why

    async def run(self) -> None:
        while True:
            for name, request in await self._unanswered():
                from k3os.apis.handoff import UpgradeOutcome  # as open_requests: only when asked

                log.warning("plan %s: cannot upgrade: %s", request.plan, self.why)
                outcome = UpgradeOutcome(
                    hash=request.hash, phase="Failed", reason=NOT_MANAGED, message=self.why
                )
                await self.write_outcome(name, outcome)
                message = f"plan {request.plan}: {NOT_MANAGED}: {self.why}"
                await self._event("UpgradeFailed", message, "Warning")


class Upgrader(_Answers):
    def __init__(
        self,
        kube: Kube,
        node_name: str,
        state: StateArea,
        job_file: Path,
        *,
        nodes: Cache,
        reboot: Callable[[], None],
        record: Recorder | None = None,
        labels: Callable[[], Obj | None] | None = None,
        written: Callable[[Obj], None] | None = None,
    ) -> None:
        super().__init__(
            kube, node_name, nodes=nodes, record=record, labels=labels, written=written
        )
        self.state = state
        self.job_file = job_file
        self.reboot = reboot
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._started: asyncio.Task[None] | None = None  # the UpgradeStarted Event, on its way

    async def run(self) -> None:
        while True:
            unanswered = await self._unanswered()
            if UpgradeJob.load(self.job_file) is not None:
                continue  # one upgrade at a time; the one in flight ends with an outcome
            if unanswered:
                await self.start(*unanswered[0])

    async def start(self, plan_name: str, request: UpgradeRequest) -> None:
        job = UpgradeJob(
            plan=plan_name,
            namespace=request.plan.partition("/")[0],
            hash=request.hash,
            image=request.image,
            version=request.version,
            previous=self.state.read_record().booted or "",
        )
        job.save(self.job_file)
        # The Event goes out while the bundle is fetched and staged, not before: the upgrade
        # does not wait for it. It is in before the outcome (`finish`), or the reboot.
        started = asyncio.create_task(
            self._event(
                "UpgradeStarted",
                f"plan {request.plan}: upgrading to {request.version or '?'} from "
                f"{request.image}; the node reboots to try it",
            )
        )
        self._started = started
        try:
            staged = await self.stage_with_retries(job)
        except (ImageError, ClientError, OSError) as e:
            await self.finish(job, "Failed", failure_reason(e), f"{request.image}: {e}")
            return
        except asyncio.CancelledError:
            started.cancel()
            raise
        except Exception as e:  # an unexpected error fails this upgrade, not the agent
            log.exception("upgrade of %s failed unexpectedly", request.image)
            await self.finish(job, "Failed", "StageFailed", f"{request.image}: {e!r}")
            return
        if staged is None:
            return  # finished already (the version was running)
        await self._started_recorded()
        staged.save(self.job_file)
        log.info("staged %s; rebooting to try it", staged.version)
        self.reboot()

    async def stage_with_retries(self, job: UpgradeJob) -> UpgradeJob | None:
        """`stage`, fetched again (resuming) while the network fails, up to FETCH_ATTEMPTS."""
        attempt = 1
        while True:
            try:
                return await self.stage(job)
            except (DownloadError, ClientError) as e:
                if attempt >= FETCH_ATTEMPTS:
                    raise
                delay = min(2.0**attempt, 30.0)
                log.info("fetching %s failed (%s); again in %.0fs", job.image, e, delay)
                await self.sleep(delay)
                attempt += 1

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
        if not path.is_file():
            raise DownloadError(f"{path}: no such bundle file")
        bundle = verify_bundle(path, load_trusted([self.state.trusted_dir]))
        return bundle.manifest.version

    async def finish(self, job: UpgradeJob, phase: Phase, reason: str, message: str) -> None:
        """Answer the request with how it ended (one patch), record the upgrade's closing
        Event, and forget the job."""
        from k3os.apis.handoff import UpgradeOutcome

        await self._started_recorded()  # the opening Event before the closing one
        booted = self.state.read_record().booted or ""
        outcome = UpgradeOutcome(
            hash=job.hash, phase=phase, version=booted, reason=reason, message=message[:1000]
        )
        await self.write_outcome(job.plan, outcome)
        where = f"plan {job.namespace}/{job.plan}"
        if phase == "Complete":
            await self._event("UpgradeComplete", f"{where}: {message}")
        else:
            await self._event("UpgradeFailed", f"{where}: {reason}: {message}", "Warning")
        self.job_file.unlink(missing_ok=True)
        self.wake.set()

    async def _started_recorded(self) -> None:
        started, self._started = self._started, None
        if started is not None:
            await started

    def on_trial(self) -> bool:
        """Whether this start is inside an upgrade: a staged job waits for its outcome."""
        job = UpgradeJob.load(self.job_file)
        return job is not None and job.stage == "staged"

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
