"""Applying a node config to a root filesystem: plan, diff, apply, by boot phase.

Public API (everything else in this package is private):

- `plan(config, root, phase="runtime", *, fetch=None) -> Plan`: what `phase` (`initrd`,
  `boot` or `runtime`) would change on `root` (a directory; `None` means the running
  host's `/`, refused unless it is a booted k3os system; pass `"/"` explicitly to insist).
  Reads only. `Plan.changes` are file/dir/symlink/kernel changes, `Plan.commands` the
  phase's commands, `Plan.notes` what was left alone and why; `Plan.diff()` renders unified
  diffs per file and the commands; `Plan.empty` is True when nothing would happen.
- `apply(plan, *, runner=None) -> ApplyReport`: carry it out. Changes are atomic per file and
  rolled back together if one fails; commands run afterwards in order, the first failure
  stops the rest. `ApplyReport.ok`, `.writes`, `.lines()` say exactly what happened.
- `phase_table()`: which config keys apply in which phase.
- Errors: `HostError` > `RootRefused`, `PlanError`.

One module per concern: hostname, sshkeys, files (write_files), sysctl, modules, resolver
(DNS, NTP), network (systemd-networkd), wifi, users (+ passwords), environment, node
(Kubernetes node settings for the agent), commands. Imports only `k3os.config`.
"""

from k3os.host.actions import Command, Plan
from k3os.host.apply import ApplyReport, CommandResult, apply
from k3os.host.errors import HostError, PlanError, RootRefused
from k3os.host.planner import PHASES, phase_table, plan
from k3os.host.rootfs import resolve_root

__all__ = [
    "PHASES",
    "ApplyReport",
    "Command",
    "CommandResult",
    "HostError",
    "Plan",
    "PlanError",
    "RootRefused",
    "apply",
    "phase_table",
    "plan",
    "resolve_root",
]
