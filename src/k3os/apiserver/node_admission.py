"""NodeRestriction on the write path: every create, update, patch and delete made with a
node's credentials is checked against the object as it would be stored and as it is.

`admit_write(new, old)` is called by the write handlers just before they store; the
decision itself is `k3os.security.noderestriction.admit_node_request`. Users that are not
nodes pass untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from k3os.apiserver.errors import Forbidden
from k3os.apiserver.identity import current_attributes
from k3os.security.noderestriction import admit_node_request

__all__ = ["admit_write"]


def admit_write(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
    """Raise Forbidden (403) when a node may not make this change."""
    attrs = current_attributes()
    if attrs is None:
        return
    decision = admit_node_request(attrs, new, old)
    if not decision.allowed:
        raise Forbidden(
            decision.reason, resource=attrs.resource, group=attrs.api_group, name=attrs.name
        )
