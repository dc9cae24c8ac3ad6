"""pods/eviction: delete a pod only if its PodDisruptionBudget allows it (429 otherwise).

Terminal and pending pods, and pods already being deleted, are evicted without asking
the budget. The budget's status is written (compare-and-swap) with each granted
eviction, so two concurrent evictions cannot both spend its last disruption.
"""

from __future__ import annotations

from typing import Any

from k3os.apiserver.context import ApiContext
from k3os.apiserver.deletion import delete, parse_delete_options
from k3os.apiserver.disruption import assess, pod_is_healthy
from k3os.apiserver.errors import BadRequest, Conflict, InternalError, TooManyRequests
from k3os.apiserver.objects import rfc3339
from k3os.apiserver.request import ApiRequest
from k3os.apiserver.selectors import label_selector_from_object

__all__ = ["evict"]

Obj = dict[str, Any]
_RETRIES = 8


def _success() -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def evict(ctx: ApiContext, req: ApiRequest, body: Any) -> Obj:
    if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
        raise BadRequest("the body of an eviction must be an Eviction")
    name = (body.get("metadata") or {}).get("name")
    if name and name != req.name:
        raise BadRequest(f"name in URL does not match name in Eviction object: {name}")
    opts_body = body.get("deleteOptions")
    delete_req = ApiRequest(req.rt, req.namespace, req.name, "", req.query)
    opts = parse_delete_options(delete_req, opts_body)
    for _ in range(_RETRIES):
        pod = await ctx.objects.get(req.rt, req.namespace, req.name)
        phase = (pod.get("status") or {}).get("phase")
        if pod["metadata"].get("deletionTimestamp") or phase in ("Succeeded", "Failed", "Pending"):
            await delete(ctx, delete_req, opts)
            return _success()
        try:
            await _spend_budget(ctx, req, pod, dry_run=opts.dry_run)
        except Conflict:
            continue
        await delete(ctx, delete_req, opts)
        return _success()
    raise TooManyRequests("too many concurrent evictions; try again", retry_after_seconds=1)


async def _spend_budget(ctx: ApiContext, req: ApiRequest, pod: Obj, *, dry_run: bool) -> None:
    pdb_type = ctx.registry.lookup("policy", "v1", "poddisruptionbudgets")
    assert pdb_type is not None
    labels = pod["metadata"].get("labels") or {}
    budgets = [
        p
        for p in (await ctx.objects.list(pdb_type, req.namespace)).items
        if label_selector_from_object((p.get("spec") or {}).get("selector")).matches(labels)
    ]
    if not budgets:
        return
    if len(budgets) > 1:
        raise InternalError(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource "
            "does not support."
        )
    pdb = budgets[0]
    selector = label_selector_from_object((pdb.get("spec") or {}).get("selector"))
    pods = [
        p
        for p in (await ctx.objects.list(req.rt, req.namespace)).items
        if selector.matches(p["metadata"].get("labels") or {})
    ]
    budget = assess(pdb, pods)
    policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
    if not pod_is_healthy(pod):
        if policy == "AlwaysAllow" or budget.healthy >= budget.desired:
            return
        raise TooManyRequests.disruption_budget(pdb["metadata"]["name"], budget.why_blocked())
    if budget.disruptions_allowed <= 0:
        raise TooManyRequests.disruption_budget(pdb["metadata"]["name"], budget.why_blocked())
    if dry_run:
        return
    status = dict(pdb.get("status") or {})
    disrupted = dict(status.get("disruptedPods") or {})
    disrupted[pod["metadata"]["name"]] = rfc3339(ctx.clock())
    status.update(
        {
            "currentHealthy": budget.healthy,
            "desiredHealthy": budget.desired,
            "expectedPods": budget.expected,
            "disruptionsAllowed": budget.disruptions_allowed - 1,
            "disruptedPods": disrupted,
            "observedGeneration": pdb["metadata"].get("generation", 1),
        }
    )
    updated = {**pdb, "status": status}
    await ctx.objects.update(pdb_type, updated, int(pdb["metadata"]["resourceVersion"]))
