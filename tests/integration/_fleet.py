"""A small real fleet for the fleet tests: a `k3os server` on SQLite (with its controller
manager), signed bundles in its image store, real `k3os agent` processes on installed
temporary roots, the pod status faker, and kubectl helpers."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from k3os.sim.fleet import Fleet
from k3os.sim.images import build_sim_bundle, signing_key
from k3os.sim.server import ServerProcess, start_server

T = TypeVar("T")
KUBECTL = str(Path(sys.executable).parent / "kubectl")


@dataclass
class FleetEnv:
    server: ServerProcess
    fleet: Fleet
    work: Path

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [KUBECTL, f"--kubeconfig={self.server.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done.stdout

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", stdin=manifest)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def nodes(self) -> dict[str, Any]:
        return {n["metadata"]["name"]: n for n in self.get("nodes")["items"]}

    def plan(self, name: str, namespace: str = "k3os-system") -> Any:
        return self.get("plan", "-n", namespace, name)

    def events(self, namespace: str = "") -> list[Any]:
        where = ["-n", namespace] if namespace else ["-A"]
        items: list[Any] = self.get("events", *where)["items"]
        return items

    def crash_and_restart_server(self) -> None:
        """SIGKILL the server and start it again on the same data dir and port."""
        old = self.server
        old.kill()
        self.server = start_server(old.data_dir, ["--disable-agent"], port=old.port)
        self.fleet.server = self.server

    def metrics(self) -> str:
        """GET /metrics with the admin certificate."""
        tls = self.server.tls
        ctx = ssl.create_default_context(cafile=str(tls / "ca.crt"))
        ctx.load_cert_chain(tls / "admin.crt", tls / "admin.key")
        with urllib.request.urlopen(self.server.url + "/metrics", context=ctx, timeout=10) as r:
            return str(r.read().decode())

    def logs(self) -> str:
        tail = self.server.log.read_text(errors="replace")[-6000:]
        return f"--- server log ---\n{tail}"


def condition(obj: Any, type_: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def eventually(probe: Callable[[], T | None], what: str, timeout: float, env: FleetEnv) -> T:
    """Poll `probe` until it returns something truthy; a deadline only turns a hang into a
    readable failure (no timing assertions)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (AssertionError, KeyError, ValueError, IndexError) as e:
            last, value = e, None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})\n{env.logs()}")


def plan_manifest(name: str, spec: str) -> str:
    head = "apiVersion: upgrade.cattle.io/v1\nkind: Plan\n"
    head += f"metadata: {{name: {name}, namespace: k3os-system}}\nspec:\n"
    return head + "\n".join("  " + line for line in spec.strip().splitlines()) + "\n"


def wait_condition(env: FleetEnv, plan: str, type_: str, timeout: float = 120) -> Any:
    def check() -> Any:
        obj = env.plan(plan)
        return obj if condition(obj, type_).get("status") == "True" else None

    return eventually(check, f"plan {plan} {type_}", timeout, env)


@contextmanager
def real_fleet(
    work: Path, nodes: dict[str, dict[str, str]], *, broken: tuple[str, ...] = ()
) -> Iterator[FleetEnv]:
    """A server and one agent per entry of `nodes` (name -> the node's own labels), with
    bundles v1.0.0 (installed), v1.1.0 and the `broken` versions in the image store."""
    signer = signing_key(work / "keys")
    env: FleetEnv | None = None
    server = start_server(work / "server", ["--disable-agent"])
    try:
        base = build_sim_bundle(work / "build", signer, "v1.0.0", server.images)
        build_sim_bundle(work / "build", signer, "v1.1.0", server.images)
        for version in broken:
            build_sim_bundle(work / "build", signer, version, server.images, healthy=False)
        with Fleet(server, work / "nodes", signer, base) as fleet:
            fleet.start_kubelet()
            for name, labels in nodes.items():
                fleet.add(name, labels)
            env = FleetEnv(server, fleet, work)
            eventually(
                lambda: (
                    len(env.nodes()) == len(nodes)
                    and env.kubectl("get", "crd", "plans.upgrade.cattle.io")
                    # made by the controllers, as k3OS had it: its Plans apply as they are
                    and env.kubectl("get", "namespace", "k3os-system")
                ),
                "nodes registered, CRDs served and the fleet's namespace made",
                90,
                env,
            )
            yield env
    finally:
        (env.server if env is not None else server).stop()
