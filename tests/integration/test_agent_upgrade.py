"""An OS upgrade run by a real agent process, driven by the request annotations the Plan
controller writes: a signed bundle served by the server is staged, the agent "reboots"
(executes itself again), boots it on trial, passes the health check and reports Complete;
a bundle whose health check fails rolls back and is reported Failed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from k3os.apis.handoff import UpgradeRequest, outcome_key, read_outcome, request_key
from k3os.image.bundle import build_from_rootfs
from k3os.image.state import StateArea
from tests.integration._agent import (
    eventually,
    get_json,
    kubectl,
    kubectl_env,
    running_agent,
    server_on_port,
)
from tests.integration._apiserver import free_port
from tests.tooling.image_fixtures import bundle, keypair, new_state, tiny_rootfs

pytestmark = pytest.mark.integration

PLAN = "os-upgrade"


def _real_bundle(work: Path, keys_key: Path, version: str, health: str | None) -> Path:
    rootfs = tiny_rootfs(work / f"rootfs-{version}", version)
    if health is not None:
        script = rootfs / "usr/lib/k3os/health-check"
        script.parent.mkdir(parents=True)
        script.write_text(health)
    kernel, initrd = work / f"vmlinuz-{version}", work / f"initrd-{version}"
    kernel.write_bytes(b"MZ" + version.encode())
    initrd.write_bytes(b"070701" + version.encode())
    out = work / f"k3os-{version}.bundle"
    build_from_rootfs(rootfs, kernel, initrd, version=version, key_path=keys_key, out=out)
    return out


def _request(server, node: str, hash_: str, version: str, image: str) -> None:
    req = UpgradeRequest(plan=f"k3os-system/{PLAN}", hash=hash_, version=version, image=image)
    patch = {"metadata": {"annotations": {request_key(PLAN): req.encode()}}}
    kubectl(server, "patch", "node", node, "--type", "merge", "-p", json.dumps(patch))


def _json_stream(text: str) -> list[dict]:
    """The whole objects of kubectl's `-o json --watch` output (indented JSON, one after
    another; one still being written at the end is left out)."""
    decoder, objects, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return objects
        try:
            obj, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            return objects
        objects.append(obj)


def _outcome(server, node: str, hash_: str):
    annotations = get_json(server, "node", node)["metadata"].get("annotations", {})
    outcome = read_outcome(annotations, PLAN)
    return outcome if outcome is not None and outcome.hash == hash_ else None


def test_upgrade_commits_a_healthy_bundle_and_rolls_back_a_broken_one(tmp_path: Path) -> None:
    keys = keypair(tmp_path / "keys")
    v1 = bundle(tmp_path / "bundles", keys, "v1", seed=1)
    v2 = _real_bundle(tmp_path / "bundles", keys.key, "v2", "exit 0\n")
    v3 = _real_bundle(tmp_path / "bundles", keys.key, "v3", "echo disk is on fire >&2; exit 3\n")
    root = tmp_path / "edge-3-root"
    state: StateArea = new_state(root, v1, keys)
    data = tmp_path / "server"
    with server_on_port(data, free_port()) as server:
        images = data / "server" / "images"
        images.mkdir(parents=True)
        shutil.copy(v2, images / "k3os-v2.bundle")
        extra = ["--health-timeout", "3s"]
        with running_agent(server, tmp_path, "edge-3", extra) as agent:
            pid = agent.proc.pid
            node = eventually(
                lambda: (
                    (n := get_json(server, "node", "edge-3"))
                    and n["metadata"]["labels"].get("k3os.io/version") == "v1"
                    and n
                ),
                "node edge-3 on v1",
                log=agent.log,
            )
            assert node["metadata"]["labels"]["k3os.io/mode"] == "disk"

            _request(server, "edge-3", "hash-2", "v2", "k3os-v2.bundle")
            outcome = eventually(
                lambda: _outcome(server, "edge-3", "hash-2"), "outcome of v2", 120, agent.log
            )
            assert (outcome.phase, outcome.version) == ("Complete", "v2"), outcome
            node = eventually(
                lambda: (
                    (n := get_json(server, "node", "edge-3"))
                    and n["metadata"]["labels"].get("k3os.io/version") == "v2"
                    and n
                ),
                "node edge-3 on v2",
                log=agent.log,
            )
            assert "v2" in node["status"]["nodeInfo"]["osImage"]
            assert state.pointer("current") == "v2" and state.read_record().trial is None
            assert agent.proc.poll() is None and agent.proc.pid == pid  # re-executed in place

            # Every version of the Node from here on, as kubectl's watch sees it: the trial
            # of v3 fails and rolls back, and its label never named v3 meanwhile (the labels
            # of a start inside an upgrade go with the outcome).
            seen = tmp_path / "edge-3-watch.jsonl"
            said = tmp_path / "edge-3-watch.stderr"  # shown if the watch never sees it
            with seen.open("wb") as out, said.open("wb") as err:
                watch = subprocess.Popen(
                    [str(Path(sys.executable).parent / "kubectl"), "get", "node", "edge-3",
                     "--watch", "--output-watch-events", "-o", "json", "-v=4"],
                    stdout=out, stderr=err, env=kubectl_env(server),
                )  # fmt: skip
            try:
                _request(server, "edge-3", "hash-3", "v3", f"file://{v3}")
                outcome = eventually(
                    lambda: _outcome(server, "edge-3", "hash-3"), "outcome of v3", 120, agent.log
                )
                eventually(
                    lambda: any(
                        outcome_key(PLAN) in (o["object"]["metadata"].get("annotations") or {})
                        and "hash-3" in o["object"]["metadata"]["annotations"][outcome_key(PLAN)]
                        for o in _json_stream(seen.read_text())
                    ),
                    "the watch sees the outcome (kubectl's log below)",
                    120,
                    said,
                )
            finally:
                watch.terminate()
                watch.wait(10)
            versions = {
                obj["object"]["metadata"]["labels"].get("k3os.io/version")
                for obj in _json_stream(seen.read_text())
            }
            assert versions == {"v2"}, versions
            assert outcome.phase == "Failed", outcome
            assert outcome.reason == "HealthCheckFailed"
            assert outcome.version == "v2"
            assert "exited 3" in outcome.message and "disk is on fire" in outcome.message
            record = state.read_record()
            assert state.pointer("current") == "v2"
            assert record.last_failure is not None and record.last_failure.version == "v3"
            labels = get_json(server, "node", "edge-3")["metadata"]["labels"]
            assert labels["k3os.io/version"] == "v2"
            events = get_json(server, "events", "-A")["items"]
            reasons = [e["reason"] for e in events if e["involvedObject"]["name"] == "edge-3"]
            # Two Events per upgrade: how it started and how it ended (docs/agent.md).
            assert sorted(r for r in reasons if r != "Starting") == [
                "UpgradeComplete",
                "UpgradeFailed",
                "UpgradeStarted",
                "UpgradeStarted",
            ], reasons
            failed = [e for e in events if e["reason"] == "UpgradeFailed"]
            assert failed[0]["type"] == "Warning" and "rolled back" in failed[0]["message"]
            # The answered request is not run again (the controller drops it, the agent waits).
            assert (
                outcome_key(PLAN) in get_json(server, "node", "edge-3")["metadata"]["annotations"]
            )
