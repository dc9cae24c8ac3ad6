"""What a node says about itself: labels, taints, nodeInfo and addresses, read from its root.

`gather_facts` reads the box (its node settings in `<root>/etc/k3os/agent.yaml` as the
config engine wrote them, else the config sources; `os-release`; the booted system version
from the state area), and the pure functions below turn the facts into the Node object to
register and the patches that keep it up to date. Taints are only ever set at
registration: afterwards they belong to the cluster (NodeRestriction refuses a change).
"""

from __future__ import annotations

import platform
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from k3os._version import __version__
from k3os.apis.keys import MODE_LABEL, VERSION_LABEL

Obj = dict[str, Any]
AGENT_YAML = "etc/k3os/agent.yaml"
CONFIG_LABELS = "k3os.io/config-labels"
"""Node annotation: the keys of the labels the agent set from the node's config."""
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True)
class NodeFacts:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Obj, ...] = ()
    version: str = __version__
    """The booted system version (the state area's), else the k3os version."""
    mode: str = "local"
    os_image: str = ""
    kernel: str = ""
    architecture: str = ""
    addresses: tuple[Obj, ...] = ()
    refused_labels: tuple[str, ...] = ()
    """Config labels only the cluster may set (NodeRestriction would refuse the Node)."""


def parse_taint(text: str) -> Obj:
    """`key=value:Effect` or `key:Effect` as a Node taint; ValueError names what is wrong."""
    head, sep, effect = text.rpartition(":")
    if not sep or effect not in _EFFECTS:
        raise ValueError(
            f"taint {text!r}: expected key[=value]:Effect with Effect one of {', '.join(_EFFECTS)}"
        )
    key, _, value = head.partition("=")
    if not key:
        raise ValueError(f"taint {text!r}: the key is empty")
    taint: Obj = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


def go_arch(machine: str) -> str:
    """`uname -m` in Kubernetes' spelling (GOARCH)."""
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine
    )


def _os_release(root: Path) -> dict[str, str]:
    for rel in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = (root / rel).read_text()
        except OSError:
            continue
        out = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                out[key.strip()] = value.strip().strip('"')
        return out
    return {}


NodeSettings = tuple[dict[str, str], list[str], str | None]
"""(labels, taints, mode) the Node is registered with."""


def agent_yaml_settings(root: Path) -> NodeSettings | None:
    """(labels, taints, no mode) from agent.yaml as the config engine wrote it, or None
    when there is no such file (no node settings configured, or never applied)."""
    path = root / AGENT_YAML
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        doc = {}
    if not isinstance(doc, dict):
        return None
    labels = {str(k): str(v) for k, v in (doc.get("node_labels") or {}).items()}
    taints = [str(t) for t in doc.get("node_taints") or []]
    return labels, taints, None


def config_settings(root: Path) -> NodeSettings:
    """(labels, taints, mode) from the node's config sources (the config engine)."""
    from k3os.config import ConfigError, load_config

    try:
        config, _ = load_config(root, timeout=0.5)
    except ConfigError:
        return {}, [], None
    k = config.k3os
    return dict(k.labels), [str(t) for t in k.taints], k.mode


def _node_settings(root: Path) -> NodeSettings:
    """(labels, taints, mode) from agent.yaml, else from the node's config sources."""
    written = agent_yaml_settings(root)
    return written if written is not None else config_settings(root)


def gather_facts(
    root: Path | None,
    node_name: str,
    version: str | None = None,
    settings: NodeSettings | None = None,
) -> NodeFacts:
    """The node's facts; `root=None` is a node with no managed root (labels only from k3os).
    `settings` are the root's node settings when the caller has read them already
    (`ConfigWork.node_settings`); else they are read here."""
    labels: dict[str, str] = {}
    taint_texts: list[str] = []
    mode: str | None = None
    release: dict[str, str] = {}
    if root is not None:
        labels, taint_texts, mode = settings if settings is not None else _node_settings(root)
        release = _os_release(root)
    from k3os.security.nodelabels import label_owner

    refused = tuple(sorted(k for k in labels if label_owner(k) == "cluster"))
    labels = {k: v for k, v in labels.items() if k not in refused}
    taints = []
    for text in taint_texts:
        try:
            taints.append(parse_taint(text))
        except ValueError:
            continue  # the config engine refuses these already; never block registration
    shown = version or __version__
    os_image = release.get("PRETTY_NAME") or f"k3OS {shown}"
    if version and version not in os_image:
        os_image = f"k3OS {version}"
    machine = platform.machine()
    return NodeFacts(
        name=node_name,
        labels=labels,
        taints=tuple(taints),
        version=shown,
        mode=mode or ("disk" if version else "local"),
        os_image=os_image,
        kernel=platform.release(),
        architecture=go_arch(machine),
        addresses=(
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": node_name or socket.gethostname()},
        ),
        refused_labels=refused,
    )


def node_labels(facts: NodeFacts) -> dict[str, str]:
    """Every label the node owns and reports: the config's, plus the well-known ones."""
    labels = dict(facts.labels)
    labels.update(
        {
            "kubernetes.io/hostname": facts.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": facts.architecture,
            VERSION_LABEL: facts.version,
            MODE_LABEL: facts.mode,
        }
    )
    return labels


def node_info(facts: NodeFacts) -> Obj:
    return {
        "osImage": facts.os_image,
        "kernelVersion": facts.kernel,
        "architecture": facts.architecture,
        "operatingSystem": "linux",
        "kubeletVersion": f"v{__version__}-k3os",
        "kubeProxyVersion": "",
        "containerRuntimeVersion": "",
        "machineID": "",
        "systemUUID": "",
        "bootID": "",
    }


def ready_condition(now: datetime, ready: bool, message: str) -> Obj:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "AgentReady" if ready else "AgentNotReady",
        "message": message,
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }


def node_status(facts: NodeFacts, now: datetime, *, ready: bool = True, message: str = "") -> Obj:
    return {
        "nodeInfo": node_info(facts),
        "addresses": list(facts.addresses),
        "conditions": [ready_condition(now, ready, message or "k3os agent is posting status")],
    }


def status_json_patch(status: Obj) -> list[Obj]:
    """`status` (as `node_status` made it) as a JSON patch of the Node's status that needs no
    read first: it holds only while the Node's first condition is Ready with the status
    posted now, so the transition time the Node has is the one to keep. Otherwise (a new
    Node, Ready changed, another condition in front) the server refuses it, 422 for the
    failed test, and the status is merged after a read."""
    ready = status["conditions"][0]
    ops: list[Obj] = [
        {"op": "test", "path": "/status/conditions/0/type", "value": "Ready"},
        {"op": "test", "path": "/status/conditions/0/status", "value": ready["status"]},
    ]
    ops += [
        {"op": "add", "path": f"/status/{key}", "value": value}
        for key, value in status.items()
        if key != "conditions"
    ]
    ops += [
        {"op": "add", "path": f"/status/conditions/0/{key}", "value": value}
        for key, value in ready.items()
        if key not in ("type", "status", "lastTransitionTime")
    ]
    return ops


def new_node(facts: NodeFacts) -> Obj:
    """The Node to create at registration (taints only here)."""
    spec: Obj = {}
    if facts.taints:
        spec["taints"] = [dict(t) for t in facts.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": facts.name,
            "labels": node_labels(facts),
            "annotations": {CONFIG_LABELS: ",".join(sorted(facts.labels))},
        },
        "spec": spec,
    }


def label_patch(facts: NodeFacts, node: Obj) -> Obj | None:
    """A merge patch that brings the node's own labels to `facts`, or None when they are.

    The keys of the config's labels are remembered in the annotation `k3os.io/config-labels`,
    so a label dropped from the config (or from a NodeConfig) is removed from the Node;
    labels anyone else set are left alone.
    """
    meta = node.get("metadata") or {}
    have = meta.get("labels") or {}
    previous = [k for k in str((meta.get("annotations") or {}).get(CONFIG_LABELS, "")).split(",")]
    want = node_labels(facts)
    labels: dict[str, str | None] = {k: v for k, v in want.items() if have.get(k) != v}
    for key in previous:
        if key and key not in want and key in have:
            labels[key] = None
    keys = ",".join(sorted(facts.labels))
    patch: Obj = {}
    if labels:
        patch["labels"] = labels
    if (meta.get("annotations") or {}).get(CONFIG_LABELS, "") != keys:
        patch["annotations"] = {CONFIG_LABELS: keys}
    return {"metadata": patch} if patch else None


def merge_ready(conditions: list[Obj], ready: Obj) -> list[Obj]:
    """The node's conditions with Ready replaced, keeping its transition time if unchanged."""
    out = []
    placed = False
    for cond in conditions:
        if cond.get("type") != "Ready":
            out.append(cond)
            continue
        if cond.get("status") == ready["status"] and cond.get("lastTransitionTime"):
            ready = {**ready, "lastTransitionTime": cond["lastTransitionTime"]}
        out.append(ready)
        placed = True
    if not placed:
        out.append(ready)
    return out
