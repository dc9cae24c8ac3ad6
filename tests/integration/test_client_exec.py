"""kubeconfig `exec` credentials with a real plugin process: its token is used, the plugin
runs again after a 401, and a failing or garbled plugin is a precise error."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx2
import pytest

from k3os.client import Kube
from k3os.client.kubeconfig import ClientConfig, Cluster, ExecPlugin, KubeconfigError, User
from k3os.client.resources import CONFIG_MAPS

pytestmark = pytest.mark.integration

PLUGIN = """
import json, os, sys
from pathlib import Path
count = Path(sys.argv[1])
n = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(n))
print(json.dumps({"apiVersion": os.environ["API"], "kind": "ExecCredential",
                  "status": {"token": f"tok-{n}"}}))
"""
V1 = "client.authentication.k8s.io/v1"


def kube(plugin: ExecPlugin, statuses: list[int]) -> tuple[Kube, list[str]]:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx2.Response(statuses.pop(0) if statuses else 200, json={})

    config = ClientConfig(Cluster("https://h:1"), User(exec=plugin))
    return Kube(config, transport=httpx2.MockTransport(handler)), seen


async def test_exec_plugin_token_and_rerun_after_401(tmp_path: Path) -> None:
    script = tmp_path / "plugin.py"
    script.write_text(PLUGIN)
    plugin = ExecPlugin(
        apiVersion=V1,
        command=sys.executable,
        args=(str(script), str(tmp_path / "count")),
        env=(("API", V1),),
    )
    client, seen = kube(plugin, [200, 200, 401])
    async with client:
        await client.get(CONFIG_MAPS, "x", "ns")
        await client.get(CONFIG_MAPS, "x", "ns")  # the token is kept
        await client.get(CONFIG_MAPS, "x", "ns")  # 401: the plugin runs again
    assert seen == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        (sys.executable, ("-c", "import sys; sys.exit('no login')"), "exited 1: no login"),
        (sys.executable, ("-c", "print('{}')"), "expected an ExecCredential"),
        ("/nonexistent/plugin", (), "/nonexistent/plugin"),
    ],
)
async def test_a_failing_plugin_is_a_precise_error(
    command: str, args: tuple[str, ...], message: str
) -> None:
    client, _ = kube(ExecPlugin(apiVersion=V1, command=command, args=args), [])
    async with client:
        with pytest.raises(KubeconfigError, match=message):
            await client.get(CONFIG_MAPS, "x", "ns")
