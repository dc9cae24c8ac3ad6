"""Errors the pure decisions raise; each says what to fix and is permanent until it is fixed.

DecisionError        base
├── ChannelError     a channel's redirect carried no usable version
└── MissingSecret    a Plan names a Secret whose content was not supplied
"""

from __future__ import annotations


class DecisionError(ValueError):
    """A decision cannot be made from these inputs; retrying with the same inputs won't help."""


class ChannelError(DecisionError):
    def __init__(self, location: str, problem: str) -> None:
        self.location = location
        super().__init__(f"channel redirect {location!r}: {problem}")


class MissingSecret(DecisionError):
    def __init__(self, plan: str, secret: str) -> None:
        self.plan = plan
        self.secret = secret
        super().__init__(
            f"plan {plan}: secret {secret!r} in spec.secrets was not found in the plan's namespace"
        )


class InvalidNodeConfig(DecisionError):
    def __init__(self, layer: str, problem: str) -> None:
        self.layer = layer
        self.problem = problem
        where = "" if problem.startswith(layer) else f"{layer}: "
        super().__init__(f"cannot render: {where}{problem}")
