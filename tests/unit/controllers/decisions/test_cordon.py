"""We uncordon only what we cordoned, and we say so on the node."""

from __future__ import annotations

from typing import Any

import pytest

from k3os.apis.keys import CORDONED_BY
from k3os.controllers.decisions import (
    NodeView,
    cordon_owner,
    cordon_patch,
    cordoned_by,
    uncordon_patch,
)
from tests.unit.controllers.decisions._build import plan

OWNER = "k3os-system/os"


def _node(unschedulable: bool, by: str | None = None) -> NodeView:
    return NodeView(
        name="n", unschedulable=unschedulable, annotations={CORDONED_BY: by} if by else {}
    )


def test_owner_names_the_plan() -> None:
    assert cordon_owner(plan()) == OWNER


@pytest.mark.parametrize(
    ("node", "patch"),
    [
        (
            _node(False),
            {"spec": {"unschedulable": True}, "metadata": {"annotations": {CORDONED_BY: OWNER}}},
        ),
        (_node(True), None),  # an operator cordoned it: not ours to record or undo
        (_node(True, OWNER), None),  # already ours
        (_node(True, "other/plan"), None),
    ],
)
def test_cordon(node: NodeView, patch: dict[str, Any] | None) -> None:
    assert cordon_patch(node, OWNER) == patch


@pytest.mark.parametrize(
    ("node", "patch"),
    [
        (
            _node(True, OWNER),
            {"spec": {"unschedulable": False}, "metadata": {"annotations": {CORDONED_BY: None}}},
        ),
        (_node(False, OWNER), {"metadata": {"annotations": {CORDONED_BY: None}}}),
        (_node(True), None),
        (_node(True, "other/plan"), None),
        (_node(False), None),
    ],
)
def test_uncordon(node: NodeView, patch: dict[str, Any] | None) -> None:
    assert uncordon_patch(node, OWNER) == patch


def test_a_node_an_operator_cordoned_survives_a_whole_upgrade() -> None:
    node = _node(True)
    assert cordon_patch(node, OWNER) is None
    assert uncordon_patch(node, OWNER) is None
    assert cordoned_by(node) is None
