"""The label and annotation keys the fleet machinery reads and writes on Nodes and Plans.

The done label keeps system-upgrade-controller's spelling so existing selectors and
scripts work; everything we add lives under `upgrade.k3os.io` / `k3os.io`.
"""

from __future__ import annotations

import functools
import re

GROUP_K3OS = "k3os.io"
GROUP_UPGRADE = "upgrade.cattle.io"

DONE_LABEL_PREFIX = "plan.upgrade.cattle.io/"
"""`plan.upgrade.cattle.io/<plan>=<hash>` marks a node done; the value `disabled` opts out."""
DISABLED = "disabled"

UPGRADE_OPT_IN_LABEL = "k3os.io/upgrade"
"""The label k3OS's own plans select on; any value but `disabled`/`false` opts a node in."""
VERSION_LABEL = "k3os.io/version"
MODE_LABEL = "k3os.io/mode"

REQUEST_PREFIX = "request.upgrade.k3os.io/"
"""`request.upgrade.k3os.io/<plan>`: the controller's upgrade request (k3os.apis.handoff)."""
FINISH_PREFIX = "finish.upgrade.k3os.io/"
"""`finish.upgrade.k3os.io/<plan>`: beside a request, what its agent may write itself with a
`Complete` answer (k3os.apis.handoff)."""
OUTCOME_PREFIX = "outcome.upgrade.k3os.io/"
"""`outcome.upgrade.k3os.io/<plan>`: the agent's answer to it (k3os.apis.handoff)."""
NODE_RECORD_PREFIX = "status.upgrade.k3os.io/"
"""`status.upgrade.k3os.io/<plan>`: JSON record of where this node stands in that plan."""
RETRY_PREFIX = "retry.upgrade.k3os.io/"
"""`retry.upgrade.k3os.io/<plan>=<any new value>`: retry a failed node once more."""
CORDONED_BY = "upgrade.k3os.io/cordoned-by"
"""Set when *we* cordoned a node: `<namespace>/<plan>`. Only then do we uncordon it."""

CANARY_APPROVED = "upgrade.k3os.io/canary-approved"
"""On a Plan: the hash whose canary nodes an operator approved."""
DIGEST_ANNOTATION = "upgrade.cattle.io/digest"
"""On a Plan (SUC compatible): extra dotted spec paths to fold into the hash."""

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


@functools.lru_cache(maxsize=1024)
def _per_plan(prefix: str, plan_name: str) -> str:
    """`prefix + plan_name`, checked; cached, as a rollout's pass asks for every node."""
    if not _NAME.match(plan_name):
        raise ValueError(
            f"plan name {plan_name!r} cannot form a label key: "
            "expected at most 63 characters of letters, digits, '-', '_' or '.'"
        )
    return prefix + plan_name


def done_label(plan_name: str) -> str:
    """`plan.upgrade.cattle.io/<plan>`: the node label holding the hash a node is done at."""
    return _per_plan(DONE_LABEL_PREFIX, plan_name)


def node_record_key(plan_name: str) -> str:
    return _per_plan(NODE_RECORD_PREFIX, plan_name)


def retry_key(plan_name: str) -> str:
    return _per_plan(RETRY_PREFIX, plan_name)
