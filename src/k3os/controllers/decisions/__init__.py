"""The fleet's decisions as pure functions of data: no I/O, no clock, no client.

The Plan and NodeConfig controllers read the cluster, call these, and carry out what they
return; the tests drive them with tables of cases.
"""

from k3os.controllers.decisions.cordon import (
    cordon_owner,
    cordon_patch,
    cordoned_by,
    uncordon_patch,
)
from k3os.controllers.decisions.drain import (
    DrainPlan,
    DrainStep,
    DrainVerdict,
    PodView,
    drain_step,
    plan_drain,
)
from k3os.controllers.decisions.errors import (
    ChannelError,
    DecisionError,
    InvalidNodeConfig,
    MissingSecret,
)
from k3os.controllers.decisions.nodeconfigs import (
    Rendering,
    config_hash,
    matching_nodeconfigs,
    node_apply_status,
    nodeconfig_status,
    render_node_config,
)
from k3os.controllers.decisions.nodepatches import (
    complete_patch,
    fail_patch,
    finish_patch,
    merge_patches,
    patch_changes,
    start_patch,
)
from k3os.controllers.decisions.nodes import NodeView, Taint, untolerated_taints
from k3os.controllers.decisions.planhash import (
    effective_image,
    hash_inputs,
    plan_hash,
    resolve_channel_version,
    resolved_version,
)
from k3os.controllers.decisions.rollout import (
    NodeFailure,
    NodeState,
    PlanNodes,
    RolloutDecision,
    classify_node,
    health_problems,
    select_next_nodes,
)
from k3os.controllers.decisions.steps import (
    OutcomeStep,
    agent_finish_of,
    agent_finishes,
    begin_patch,
    finishes_at_once,
    folds_handover,
    handover_patch,
    outcome_step,
    upgrade_request,
)
from k3os.controllers.decisions.window import in_window, next_window_start

__all__ = [
    "ChannelError",
    "DecisionError",
    "DrainPlan",
    "DrainStep",
    "DrainVerdict",
    "InvalidNodeConfig",
    "MissingSecret",
    "NodeFailure",
    "NodeState",
    "NodeView",
    "OutcomeStep",
    "PlanNodes",
    "PodView",
    "Rendering",
    "RolloutDecision",
    "Taint",
    "agent_finish_of",
    "agent_finishes",
    "begin_patch",
    "classify_node",
    "complete_patch",
    "config_hash",
    "cordon_owner",
    "cordon_patch",
    "cordoned_by",
    "drain_step",
    "effective_image",
    "fail_patch",
    "finish_patch",
    "finishes_at_once",
    "folds_handover",
    "handover_patch",
    "hash_inputs",
    "health_problems",
    "in_window",
    "matching_nodeconfigs",
    "merge_patches",
    "next_window_start",
    "node_apply_status",
    "nodeconfig_status",
    "outcome_step",
    "patch_changes",
    "plan_drain",
    "plan_hash",
    "render_node_config",
    "resolve_channel_version",
    "resolved_version",
    "select_next_nodes",
    "start_patch",
    "uncordon_patch",
    "untolerated_taints",
    "upgrade_request",
]
