"""Prometheus metrics of the fleet controllers, rendered in the text exposition format.

A tiny registry of counters, gauges and histograms with labels (no dependency: the
format is a few lines of text). The controllers update `REGISTRY`; collectors registered
with `add_collector` compute values at scrape time (heartbeat ages). `render()` returns
what `/metrics` serves.

Metric names: `k3os_plan_nodes{namespace,plan,state}` (rollout progress),
`k3os_plan_node_failures_total{namespace,plan}`, `k3os_plan_upgrade_seconds` (start to
completion per node), `k3os_nodeconfig_nodes{nodeconfig,state}`,
`k3os_nodeconfig_apply_seconds` (render to the agent's report),
`k3os_node_heartbeat_age_seconds{node}`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "Counter",
    "Gauge",
    "Histogram",
    "Registry",
    "render",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LabelValues = tuple[str, ...]
Sample = tuple[str, dict[str, str], float]
_DEFAULT_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if value != int(value) else str(int(value))


def _line(name: str, labels: dict[str, str], value: float) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {_number(value)}"
    return f"{name} {_number(value)}"


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if set(labels) != set(self.label_names):
            raise ValueError(
                f"{self.name}: expected labels {self.label_names}, got {sorted(labels)}"
            )
        return tuple(str(labels[n]) for n in self.label_names)

    def samples(self) -> list[Sample]:
        raise NotImplementedError

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


M = TypeVar("M", bound=_Metric)


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[Sample]:
        with self._lock:
            items = sorted(self._values.items())
        return [(self.name, dict(zip(self.label_names, k, strict=True)), v) for k, v in items]


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {}

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def remove_matching(self, **labels: str) -> None:
        """Drop every series whose labels include `labels` (a deleted plan or node)."""
        idx = {self.label_names.index(k): v for k, v in labels.items()}
        with self._lock:
            for key in [k for k in self._values if all(k[i] == v for i, v in idx.items())]:
                del self._values[key]

    def value(self, **labels: str) -> float | None:
        return self._values.get(self._key(labels))

    def samples(self) -> list[Sample]:
        with self._lock:
            items = sorted(self._values.items())
        return [(self.name, dict(zip(self.label_names, k, strict=True)), v) for k, v in items]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Iterable[float] = _DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[LabelValues, list[int]] = {}
        self._sums: dict[LabelValues, float] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: str) -> int:
        counts = self._counts.get(self._key(labels))
        return counts[-1] if counts else 0

    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        with self._lock:
            items = sorted(self._counts.items())
            sums = dict(self._sums)
        for key, counts in items:
            labels = dict(zip(self.label_names, key, strict=True))
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                out.append((f"{self.name}_bucket", {**labels, "le": _number(bound)}, n))
            out.append((f"{self.name}_sum", labels, sums[key]))
            out.append((f"{self.name}_count", labels, counts[-1]))
        return out


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._collectors: list[Callable[[], None]] = []

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help, labels))

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        return self._add(Gauge(name, help, labels))

    def histogram(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Iterable[float] = _DEFAULT_BUCKETS,
    ) -> Histogram:
        return self._add(Histogram(name, help, labels, buckets))

    def _add(self, metric: M) -> M:
        existing = self._metrics.get(metric.name)
        if existing is not None:
            if type(existing) is not type(metric):
                raise ValueError(f"metric {metric.name} already registered as {existing.kind}")
            return existing
        self._metrics[metric.name] = metric
        return metric

    def add_collector(self, collect: Callable[[], None]) -> None:
        """`collect()` runs before each render, to set gauges computed at scrape time."""
        self._collectors.append(collect)

    def remove_collector(self, collect: Callable[[], None]) -> None:
        if collect in self._collectors:
            self._collectors.remove(collect)

    def render(self) -> str:
        for collect in list(self._collectors):
            collect()
        lines: list[str] = []
        for metric in sorted(self._metrics.values(), key=lambda m: m.name):
            lines += metric.header()
            lines += [_line(name, labels, value) for name, labels, value in metric.samples()]
        return "\n".join(lines) + "\n"


REGISTRY = Registry()

PLAN_NODES = REGISTRY.gauge(
    "k3os_plan_nodes", "Nodes of a Plan by rollout state.", ("namespace", "plan", "state")
)
PLAN_FAILURES = REGISTRY.counter(
    "k3os_plan_node_failures_total", "Nodes that failed a Plan's upgrade.", ("namespace", "plan")
)
PLAN_UPGRADE_SECONDS = REGISTRY.histogram(
    "k3os_plan_upgrade_seconds",
    "Time from a node's start to its agent's outcome.",
    ("namespace", "plan"),
)
PLAN_HALTED = REGISTRY.gauge(
    "k3os_plan_halted", "1 while a Plan is halted by its failure budget.", ("namespace", "plan")
)
NODECONFIG_NODES = REGISTRY.gauge(
    "k3os_nodeconfig_nodes", "Nodes of a NodeConfig by state.", ("nodeconfig", "state")
)
NODECONFIG_APPLY_SECONDS = REGISTRY.histogram(
    "k3os_nodeconfig_apply_seconds", "Time from rendering a node's config to its agent's report."
)
HEARTBEAT_AGE = REGISTRY.gauge(
    "k3os_node_heartbeat_age_seconds", "Seconds since a node's Lease was last renewed.", ("node",)
)


def render() -> str:
    """The default registry in the text exposition format."""
    return REGISTRY.render()
