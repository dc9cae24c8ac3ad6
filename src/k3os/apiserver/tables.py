"""``meta.k8s.io/v1`` Table output: the columns ``kubectl get`` shows for each kind.

A :class:`Printer` has column definitions and turns an object into one row of cells; the
server always fills every column and kubectl hides those with ``priority`` > 0 unless
``-o wide``. Built-in kinds get the upstream columns, custom resources their CRD's
``additionalPrinterColumns``, anything else NAME and AGE. ``now`` is always passed in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

from k3os.apiserver.errors import BadRequest
from k3os.apiserver.jsonpath import JSONPathError, compile_jsonpath

__all__ = [
    "ColumnDefinition",
    "Printer",
    "build_table",
    "custom_resource_printer",
    "human_duration",
    "printer_for",
    "since",
]

Obj = Mapping[str, Any]
IncludeObject = Literal["None", "Metadata", "Object"]


class ColumnDefinition(TypedDict):
    name: str
    type: str
    format: str
    description: str
    priority: int


def _col(
    name: str, description: str, *, type: str = "string", fmt: str = "", priority: int = 0
) -> ColumnDefinition:
    return {
        "name": name,
        "type": type,
        "format": fmt,
        "description": description,
        "priority": priority,
    }


NAME = _col("Name", "The object's metadata.name, unique within its namespace.", fmt="name")
AGE = _col("Age", "Time since the object was created (metadata.creationTimestamp).")


# --- time ----------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """kubectl's compact age: ``5s``, ``3m20s``, ``2d4h``, ``3y``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def since(timestamp: Any, now: dt.datetime) -> str:
    """The age of an RFC 3339 ``timestamp`` at ``now``; ``<unknown>`` when unset."""
    parsed = _parse_time(timestamp)
    if parsed is None:
        return "<unknown>"
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return human_duration((now - parsed).total_seconds())


# --- printers ------------------------------------------------------------------------------

RowFunction = Callable[[Obj, dt.datetime], list[Any]]


@dataclass(frozen=True)
class Printer:
    columns: tuple[ColumnDefinition, ...]
    row: RowFunction


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _name(obj: Obj) -> str:
    return str(_get(obj, "metadata", "name") or "")


def _age(obj: Obj, now: dt.datetime) -> str:
    return since(_get(obj, "metadata", "creationTimestamp"), now)


def _or(value: Any, default: str) -> Any:
    return default if value in (None, "") else value


def _node_row(obj: Obj, now: dt.datetime) -> list[Any]:
    ready = [c for c in _get(obj, "status", "conditions") or [] if c.get("type") == "Ready"]
    if not ready:
        states = ["Unknown"]
    else:
        states = ["Ready" if ready[0].get("status") == "True" else "NotReady"]
    if _get(obj, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    roles = set()
    for key, value in (_get(obj, "metadata", "labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    addresses = _get(obj, "status", "addresses") or []

    def address(kind: str) -> str:
        return next((a.get("address", "") for a in addresses if a.get("type") == kind), "<none>")

    info = _get(obj, "status", "nodeInfo") or {}
    return [
        _name(obj),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        _age(obj, now),
        info.get("kubeletVersion", ""),
        address("InternalIP"),
        address("ExternalIP"),
        _or(info.get("osImage"), "<unknown>"),
        _or(info.get("kernelVersion"), "<unknown>"),
        _or(info.get("containerRuntimeVersion"), "<unknown>"),
    ]


NODE = Printer(
    (
        NAME,
        _col("Status", "Whether the node is Ready, and SchedulingDisabled when cordoned."),
        _col("Roles", "The node-role.kubernetes.io/<role> labels of the node."),
        AGE,
        _col("Version", "The kubelet version the node reports."),
        _col("Internal-IP", "The node's first InternalIP address.", priority=1),
        _col("External-IP", "The node's first ExternalIP address.", priority=1),
        _col("OS-Image", "The operating system image the node reports.", priority=1),
        _col("Kernel-Version", "The kernel version the node reports.", priority=1),
        _col("Container-Runtime", "The container runtime and its version.", priority=1),
    ),
    _node_row,
)


def _terminated_reason(state: Mapping[str, Any], prefix: str = "") -> str:
    if state.get("reason"):
        return prefix + str(state["reason"])
    if state.get("signal"):
        return f"{prefix}Signal:{state['signal']}"
    return f"{prefix}ExitCode:{state.get('exitCode', 0)}"


def _pod_row(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = _get(obj, "spec") or {}, _get(obj, "status") or {}
    containers = spec.get("containers") or []
    init_specs = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(containers) + len(sidecars)
    reason = status.get("reason") or status.get("phase") or ""
    ready = restarts = 0
    last_restart: dt.datetime | None = None

    def note_restart(cs: Mapping[str, Any]) -> None:
        nonlocal restarts, last_restart
        restarts += int(cs.get("restartCount") or 0)
        finished = _parse_time(_get(cs, "lastState", "terminated", "finishedAt"))
        if finished and (last_restart is None or finished > last_restart):
            last_restart = finished

    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled", {})
    if scheduled.get("status") == "False" and scheduled.get("reason") == "SchedulingGated":
        reason = "SchedulingGated"
    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        note_restart(cs)
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if cs.get("name") in sidecars and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    initialized = conditions.get("Initialized", {}).get("status") == "True"
    if not initializing or initialized:
        running = False
        for cs in reversed(status.get("containerStatuses") or []):
            note_restart(cs)
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated:
                reason = _terminated_reason(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                running = True
                ready += 1
        if reason == "Completed" and running:
            pod_ready = conditions.get("Ready", {}).get("status") == "True"
            reason = "Running" if pod_ready else "NotReady"
    if _get(obj, "metadata", "deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        age = human_duration((_aware(now) - last_restart).total_seconds())
        restarts_text = f"{restarts} ({age} ago)"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        passed = sum(
            1 for g in gates if conditions.get(g.get("conditionType"), {}).get("status") == "True"
        )
        gates_text = f"{passed}/{len(gates)}"
    return [
        _name(obj),
        f"{ready}/{total}",
        reason,
        restarts_text,
        _age(obj, now),
        _or(status.get("podIP"), "<none>"),
        _or(spec.get("nodeName"), "<none>"),
        _or(status.get("nominatedNodeName"), "<none>"),
        gates_text,
    ]


def _aware(now: dt.datetime) -> dt.datetime:
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


POD = Printer(
    (
        NAME,
        _col("Ready", "Ready containers out of all containers."),
        _col("Status", "The pod phase, or why it is not running."),
        _col("Restarts", "Container restarts, with how long ago the last one was."),
        AGE,
        _col("IP", "The pod's IP address.", priority=1),
        _col("Node", "The node the pod is bound to.", priority=1),
        _col("Nominated Node", "The node the scheduler nominated for preemption.", priority=1),
        _col("Readiness Gates", "Readiness gates that pass out of all of them.", priority=1),
    ),
    _pod_row,
)


def _simple(*extra: tuple[ColumnDefinition, Callable[[Obj], Any]], age: bool = True) -> Printer:
    columns = (NAME, *(c for c, _ in extra), *((AGE,) if age else ()))

    def row(obj: Obj, now: dt.datetime) -> list[Any]:
        cells = [_name(obj), *(get(obj) for _, get in extra)]
        return [*cells, _age(obj, now)] if age else cells

    return Printer(columns, row)


def _count(*fields: str) -> Callable[[Obj], int]:
    return lambda obj: sum(len(obj.get(f) or {}) for f in fields)


def _created_at(obj: Obj) -> Any:
    parsed = _parse_time(_get(obj, "metadata", "creationTimestamp"))
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else None


CREATED_AT = _col("Created At", "When the object was created.", type="date")


def _binding_subjects(kind: str) -> Callable[[Obj], str]:
    def names(obj: Obj) -> str:
        found = []
        for s in obj.get("subjects") or []:
            if s.get("kind") == kind:
                name = s.get("name", "")
                if kind == "ServiceAccount":
                    name = f"{s.get('namespace', '')}/{name}"
                found.append(name)
        return ", ".join(found)

    return names


def _binding_printer() -> Printer:
    columns = (
        NAME,
        _col("Role", "The role the binding grants, as Kind/name."),
        AGE,
        _col("Users", "Users the binding grants the role to.", priority=1),
        _col("Groups", "Groups the binding grants the role to.", priority=1),
        _col("ServiceAccounts", "Service accounts the binding grants the role to.", priority=1),
    )

    def row(obj: Obj, now: dt.datetime) -> list[Any]:
        ref = obj.get("roleRef") or {}
        return [
            _name(obj),
            f"{ref.get('kind', '')}/{ref.get('name', '')}",
            _age(obj, now),
            _binding_subjects("User")(obj),
            _binding_subjects("Group")(obj),
            _binding_subjects("ServiceAccount")(obj),
        ]

    return Printer(columns, row)


def _event_source(obj: Obj) -> str:
    source = obj.get("source") or {}
    component, host = source.get("component", ""), source.get("host", "")
    if not component:
        component = obj.get("reportingController") or obj.get("reportingComponent") or ""
        host = obj.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component


def _core_event(obj: Obj) -> Obj:
    """An events.k8s.io/v1 Event in the core/v1 shape the event printer reads."""
    if "involvedObject" in obj or "regarding" not in obj:
        return obj
    return {
        "metadata": obj.get("metadata") or {},
        "involvedObject": obj.get("regarding") or {},
        "type": obj.get("type"),
        "reason": obj.get("reason"),
        "message": obj.get("note"),
        "source": obj.get("deprecatedSource") or {},
        "reportingComponent": obj.get("reportingController"),
        "reportingInstance": obj.get("reportingInstance"),
        "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
        "lastTimestamp": obj.get("deprecatedLastTimestamp"),
        "count": obj.get("deprecatedCount"),
        "eventTime": obj.get("eventTime"),
        "series": obj.get("series"),
    }


def _event_row(raw: Obj, now: dt.datetime) -> list[Any]:
    obj = _core_event(raw)
    first = since(obj.get("firstTimestamp") or obj.get("eventTime"), now)
    last = since(obj.get("lastTimestamp"), now) if obj.get("lastTimestamp") else first
    count = obj.get("count") or 1
    series = obj.get("series")
    if series:
        last = since(series.get("lastObservedTime"), now)
        count = series.get("count") or count
    involved = obj.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [
        last,
        obj.get("type") or "",
        obj.get("reason") or "",
        target,
        involved.get("fieldPath") or "",
        _event_source(obj),
        str(obj.get("message") or "").strip(),
        first,
        int(count),
        _name(obj),
    ]


EVENT = Printer(
    (
        _col("Last Seen", "Time since the event was last observed."),
        _col("Type", "Normal or Warning."),
        _col("Reason", "Why the event happened, in one CamelCase word."),
        _col("Object", "The object the event is about, as kind/name."),
        _col("Subobject", "The part of the object (fieldPath) the event is about.", priority=1),
        _col("Source", "The component that reported the event.", priority=1),
        _col("Message", "What happened, for people."),
        _col("First Seen", "Time since the event was first observed.", priority=1),
        _col("Count", "How many times the event was observed.", type="integer", priority=1),
        _col("Name", "The event object's name.", fmt="name", priority=1),
    ),
    _event_row,
)

_PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "nodes"): NODE,
    ("", "pods"): POD,
    ("", "events"): EVENT,
    ("events.k8s.io", "events"): EVENT,
    ("", "namespaces"): _simple(
        (
            _col("Status", "The namespace phase: Active or Terminating."),
            lambda o: _get(o, "status", "phase") or "",
        )
    ),
    ("", "configmaps"): _simple(
        (
            _col("Data", "The number of data and binaryData keys.", type="integer"),
            _count("data", "binaryData"),
        )
    ),
    ("", "secrets"): _simple(
        (_col("Type", "The secret type."), lambda o: o.get("type") or ""),
        (_col("Data", "The number of data keys.", type="integer"), _count("data")),
    ),
    ("", "serviceaccounts"): _simple(
        (_col("Secrets", "The number of secrets listed.", type="integer"), _count("secrets"))
    ),
    ("coordination.k8s.io", "leases"): _simple(
        (
            _col("Holder", "The lease's current holder."),
            lambda o: _get(o, "spec", "holderIdentity") or "",
        )
    ),
    ("policy", "poddisruptionbudgets"): _simple(
        (
            _col("Min Available", "Pods that must stay available (number or percent)."),
            lambda o: _or(_get(o, "spec", "minAvailable"), "N/A"),
        ),
        (
            _col("Max Unavailable", "Pods that may be unavailable (number or percent)."),
            lambda o: _or(_get(o, "spec", "maxUnavailable"), "N/A"),
        ),
        (
            _col("Allowed Disruptions", "Evictions allowed right now.", type="integer"),
            lambda o: int(_get(o, "status", "disruptionsAllowed") or 0),
        ),
    ),
    ("rbac.authorization.k8s.io", "roles"): _simple((CREATED_AT, _created_at), age=False),
    ("rbac.authorization.k8s.io", "clusterroles"): _simple((CREATED_AT, _created_at), age=False),
    ("rbac.authorization.k8s.io", "rolebindings"): _binding_printer(),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): _binding_printer(),
    ("apiextensions.k8s.io", "customresourcedefinitions"): _simple(
        (CREATED_AT, _created_at), age=False
    ),
}

GENERIC = _simple()


def printer_for(group: str, resource: str) -> Printer:
    """The printer of a built-in resource; NAME and AGE for anything else."""
    return _PRINTERS.get((group, resource), GENERIC)


# --- custom resources ----------------------------------------------------------------------


def _cell(kind: str, value: Any, now: dt.datetime) -> Any:
    if value is None:
        return None
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        if not isinstance(value, str):
            return None
        return since(value, now) if _parse_time(value) else "<invalid>"
    return value if isinstance(value, str) else _plain(value)


def _plain(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def custom_resource_printer(columns: Sequence[Mapping[str, Any]] | None) -> Printer:
    """The printer of a CRD version from its ``additionalPrinterColumns``.

    Without any, NAME and AGE; with some, NAME then exactly those. A bad ``jsonPath``
    raises :class:`BadRequest` naming it (the CRD should not have been admitted).
    """
    if not columns:
        return GENERIC
    compiled = []
    definitions = [NAME]
    for i, column in enumerate(columns):
        try:
            path = compile_jsonpath(str(column.get("jsonPath", "")))
        except JSONPathError as e:
            raise BadRequest(f"additionalPrinterColumns[{i}].jsonPath: {e}") from e
        kind = str(column.get("type", "string"))
        compiled.append((kind, path))
        definitions.append(
            _col(
                str(column.get("name", "")),
                str(column.get("description", "")),
                type=kind,
                fmt=str(column.get("format", "")),
                priority=int(column.get("priority", 0)),
            )
        )

    def row(obj: Obj, now: dt.datetime) -> list[Any]:
        return [_name(obj), *(_cell(kind, path.first(obj), now) for kind, path in compiled)]

    return Printer(tuple(definitions), row)


# --- the table -----------------------------------------------------------------------------


def _row_object(obj: Obj, include: IncludeObject) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return dict(obj)
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(obj.get("metadata") or {}),
    }


def build_table(
    objects: Iterable[Obj],
    printer: Printer,
    *,
    now: dt.datetime,
    include_object: str = "Metadata",
    list_metadata: Mapping[str, Any] | None = None,
    no_headers: bool = False,
) -> dict[str, Any]:
    """A ``Table`` of ``objects``. ``include_object`` is the ``includeObject`` query value
    (``None``, ``Metadata`` or ``Object``); ``list_metadata`` carries resourceVersion,
    continue and remainingItemCount through."""
    if include_object not in ("None", "Metadata", "Object"):
        raise BadRequest(
            f'includeObject: Unsupported value: "{include_object}": supported values: '
            '"None", "Metadata", "Object"'
        )
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer.row(obj, now)}
        embedded = _row_object(obj, cast(IncludeObject, include_object))
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_metadata or {}),
        "columnDefinitions": [] if no_headers else [dict(c) for c in printer.columns],
        "rows": rows,
    }
