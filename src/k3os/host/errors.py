"""The host room's errors.

HostError               anything that stops a plan or an apply
├── RootRefused         the target is the running host's `/` and that was not asked for
└── PlanError           the config cannot be applied to this root (missing group, …)
"""

from __future__ import annotations


class HostError(Exception):
    """Base of the host room's errors; `str()` is one line fit for a terminal."""


class RootRefused(HostError):
    """Refusing to change the running host's `/` without an explicit `--root /`."""


class PlanError(HostError):
    """The config does not fit this root (e.g. a group that does not exist there)."""
