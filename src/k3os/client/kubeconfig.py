"""Where a connection goes and who it says it is: a kubeconfig read into `ClientConfig`, and
the TLS context and credentials (`httpx2.Auth`) built from one.

Read here with the standard library's ssl module rather than by a Kubernetes client
library: a node agent connects with its certificate files and so loads neither YAML nor a
client's models. Supported, as kubectl reads them: `certificate-authority(-data)`,
`insecure-skip-tls-verify`, `client-certificate(-data)` and `client-key(-data)`, `token`,
`tokenFile`, `username`/`password`, and `exec` credential plugins. Relative file names are
relative to the kubeconfig's directory. `auth-provider` is refused with a clear error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import ssl
import tempfile
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from k3os.client.errors import ClientError
from k3os.security.tlschain import send_leaf_only

__all__ = [
    "ClientConfig",
    "Cluster",
    "ExecPlugin",
    "KubeconfigError",
    "User",
    "client_auth",
    "load_kubeconfig",
    "ssl_context",
]

Flow = Generator[httpx2.Request, httpx2.Response, None]
AsyncFlow = AsyncGenerator[httpx2.Request, httpx2.Response]

EXEC_API_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
    "client.authentication.k8s.io/v1alpha1",
)


class KubeconfigError(ClientError):
    """A kubeconfig that cannot be read or used; the message names the file and the field."""


@dataclass(frozen=True)
class Cluster:
    server: str
    certificate_auth: str | None = None
    """`certificate-authority`: a CA file."""
    certificate_auth_data: str | None = None
    """`certificate-authority-data`: base64 of the CA's PEM."""
    insecure: bool = False
    """`insecure-skip-tls-verify`."""


@dataclass(frozen=True)
class ExecPlugin:
    """`users[].user.exec`: a command that prints an ExecCredential with a bearer token."""

    apiVersion: str
    """Spelt as in the kubeconfig."""
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class User:
    token: str | None = None
    token_file: str | None = None
    client_cert: str | None = None
    client_cert_data: str | None = None
    client_key: str | None = None
    client_key_data: str | None = None
    username: str | None = None
    password: str | None = None
    exec: ExecPlugin | None = None
    auth_provider: dict[str, Any] | None = None


@dataclass(frozen=True)
class ClientConfig:
    """One cluster and the credentials to use on it (a kubeconfig context, resolved)."""

    cluster: Cluster
    user: User | None = None
    context_name: str = "default"
    namespace: str = "default"
    fname: Path | None = field(default=None)
    """The kubeconfig this came from; relative file names are relative to its directory."""

    def abs_file(self, name: str | os.PathLike[str]) -> Path:
        path = Path(name)
        if path.is_absolute():
            return path
        if self.fname is None:
            raise KubeconfigError(f"{name}: a relative file name needs a kubeconfig to be under")
        return self.fname.parent / path


# reading ------------------------------------------------------------------------------


def load_kubeconfig(path: Path | str, context: str | None = None) -> ClientConfig:
    """The context `context` (default: `current-context`) of the kubeconfig at `path`."""
    import yaml

    path = Path(path).expanduser()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise KubeconfigError(f"{path}: kubeconfig not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise KubeconfigError(f"{path}: cannot read the kubeconfig ({e})") from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise KubeconfigError(f"{path}: not YAML ({e})") from e
    return config_from_dict(doc, path, context)


def config_from_dict(doc: Any, path: Path | None, context: str | None = None) -> ClientConfig:
    where = str(path or "kubeconfig")
    if not isinstance(doc, dict):
        raise KubeconfigError(f"{where}: expected a mapping (a kubeconfig), got {_kind(doc)}")
    name = context or doc.get("current-context")
    if not name:
        raise KubeconfigError(f"{where}: no current-context, and no context was asked for")
    contexts = _named(doc, "contexts", "context", where)
    if name not in contexts:
        raise KubeconfigError(f"{where}: contexts: no context {name!r}")
    ctx = contexts[name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    clusters = _named(doc, "clusters", "cluster", where)
    if cluster_name not in clusters:
        raise KubeconfigError(f"{where}: context {name!r}: no cluster {cluster_name!r}")
    users = _named(doc, "users", "user", where)
    if user_name and user_name not in users:
        raise KubeconfigError(f"{where}: context {name!r}: no user {user_name!r}")
    return ClientConfig(
        cluster=_cluster(clusters[cluster_name], f"{where}: clusters[{cluster_name}]"),
        user=_user(users[user_name], f"{where}: users[{user_name}]") if user_name else None,
        context_name=str(name),
        namespace=str(ctx.get("namespace") or "default"),
        fname=path,
    )


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _named(doc: dict[str, Any], key: str, inner: str, where: str) -> dict[str, dict[str, Any]]:
    entries = doc.get(key)
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise KubeconfigError(f"{where}: {key}: expected a list, got {_kind(entries)}")
    out = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise KubeconfigError(f"{where}: {key}[{i}]: expected a mapping with a name")
        body = entry.get(inner)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise KubeconfigError(f"{where}: {key}[{i}].{inner}: expected a mapping")
        out[entry["name"]] = body
    return out


def _str(body: dict[str, Any], key: str, where: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise KubeconfigError(f"{where}.{key}: expected a string, got {_kind(value)}")


def _cluster(body: dict[str, Any], where: str) -> Cluster:
    server = _str(body, "server", where)
    if not server:
        raise KubeconfigError(f"{where}.server: expected the API server's URL")
    insecure = body.get("insecure-skip-tls-verify", False)
    if not isinstance(insecure, bool):
        raise KubeconfigError(f"{where}.insecure-skip-tls-verify: expected true or false")
    return Cluster(
        server=server,
        certificate_auth=_str(body, "certificate-authority", where),
        certificate_auth_data=_str(body, "certificate-authority-data", where),
        insecure=insecure,
    )


def _user(body: dict[str, Any], where: str) -> User:
    plugin = body.get("exec")
    provider = body.get("auth-provider")
    return User(
        token=_str(body, "token", where),
        token_file=_str(body, "tokenFile", where),
        client_cert=_str(body, "client-certificate", where),
        client_cert_data=_str(body, "client-certificate-data", where),
        client_key=_str(body, "client-key", where),
        client_key_data=_str(body, "client-key-data", where),
        username=_str(body, "username", where),
        password=_str(body, "password", where),
        exec=_exec(plugin, f"{where}.exec") if plugin is not None else None,
        auth_provider=provider if isinstance(provider, dict) else None,
    )


def _exec(body: Any, where: str) -> ExecPlugin:
    if not isinstance(body, dict):
        raise KubeconfigError(f"{where}: expected a mapping")
    command = _str(body, "command", where)
    if not command:
        raise KubeconfigError(f"{where}.command: expected the plugin's command")
    args = body.get("args") or []
    env = body.get("env") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise KubeconfigError(f"{where}.args: expected a list of strings")
    if not isinstance(env, list) or not all(
        isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("value"), str)
        for e in env
    ):
        raise KubeconfigError(f"{where}.env: expected a list of {{name, value}} strings")
    return ExecPlugin(
        apiVersion=_str(body, "apiVersion", where) or "",
        command=command,
        args=tuple(args),
        env=tuple((e["name"], e["value"]) for e in env),
    )


# using --------------------------------------------------------------------------------


def ssl_context(config: ClientConfig) -> ssl.SSLContext:
    """The TLS context: the cluster's CA (or the system's), and the client certificate.

    OSError or ValueError (ssl.SSLError) when a file is missing or not what it should be."""
    cluster, user = config.cluster, config.user
    if cluster.certificate_auth:
        ctx = ssl.create_default_context(cafile=str(config.abs_file(cluster.certificate_auth)))
    elif cluster.certificate_auth_data:
        ctx = ssl.create_default_context(cadata=_decode(cluster.certificate_auth_data).decode())
    else:
        ctx = httpx2.create_ssl_context(verify=not cluster.insecure, trust_env=False)
    if user is not None and (user.client_cert or user.client_cert_data):
        _load_client_certificate(ctx, config, user)
        # The certificate goes out as its file holds it, as client-go sends it: no chain
        # built from the trust store at every handshake (k3os.security.tlschain).
        send_leaf_only(ctx)
    return ctx


def _decode(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"not base64: {e}") from e


def _load_client_certificate(ctx: ssl.SSLContext, config: ClientConfig, user: User) -> None:
    if user.client_cert_data is None and user.client_key_data is None:
        assert user.client_cert is not None
        key = config.abs_file(user.client_key) if user.client_key else None
        ctx.load_cert_chain(config.abs_file(user.client_cert), key)
        return
    # ssl loads a certificate chain from files only: data goes through a private temporary
    # file that is gone again once loaded.
    with tempfile.TemporaryDirectory(prefix="k3os-client-") as tmp:
        cert = _materialize(config, user.client_cert, user.client_cert_data, Path(tmp) / "crt")
        key = _materialize(config, user.client_key, user.client_key_data, Path(tmp) / "key")
        ctx.load_cert_chain(cert, key)


def _materialize(config: ClientConfig, name: str | None, data: str | None, dest: Path) -> Path:
    if data is None:
        if name is None:
            raise ValueError("a client certificate needs its key (client-key or client-key-data)")
        return config.abs_file(name)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(_decode(data))
    return dest


def client_auth(user: User) -> httpx2.Auth | None:
    """The request credentials of `user` (a client certificate is in the TLS context)."""
    if user.token_file is not None:
        return TokenFileAuth(user.token_file)
    if user.token is not None:
        return BearerAuth(user.token)
    if user.exec is not None:
        return ExecAuth(user.exec)
    if user.username and user.password:
        return httpx2.BasicAuth(user.username, user.password)
    if user.auth_provider:
        raise KubeconfigError("auth-provider credentials are not supported; use exec or a token")
    return None


class BearerAuth(httpx2.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token.strip()}"

    def auth_flow(self, request: httpx2.Request) -> Flow:
        request.headers["Authorization"] = self._header
        yield request


class TokenFileAuth(httpx2.Auth):
    """A bearer token read from a file, read again after a 401 (the token was rotated)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._header: str | None = None

    def _read(self) -> str:
        try:
            return "Bearer " + Path(self.path).read_text().strip()
        except OSError as e:
            raise KubeconfigError(f"{self.path}: cannot read the token file ({e})") from e

    def auth_flow(self, request: httpx2.Request) -> Flow:
        if self._header is None:
            self._header = self._read()
        request.headers["Authorization"] = self._header
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = self._header = self._read()
            yield request


class ExecAuth(httpx2.Auth):
    """A bearer token from an exec credential plugin, run again after a 401."""

    def __init__(self, plugin: ExecPlugin) -> None:
        self.plugin = plugin
        self._header: str | None = None

    def sync_auth_flow(self, request: httpx2.Request) -> Flow:
        raise KubeconfigError("exec credentials are supported on the async client only")

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncFlow:
        if self._header is not None:
            request.headers["Authorization"] = self._header
            response = yield request
            if response.status_code != 401:
                return
        request.headers["Authorization"] = self._header = await self._run()
        yield request

    async def _run(self) -> str:
        plugin = self.plugin
        if plugin.apiVersion not in EXEC_API_VERSIONS:
            raise KubeconfigError(
                f"exec plugin {plugin.command}: apiVersion {plugin.apiVersion!r} is not one of "
                + ", ".join(EXEC_API_VERSIONS)
            )
        env = {**os.environ, **dict(plugin.env)}
        try:
            proc = await asyncio.create_subprocess_exec(
                plugin.command,
                *plugin.args,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate()
        except OSError as e:
            raise KubeconfigError(f"exec plugin {plugin.command}: {e}") from e
        if proc.returncode != 0:
            raise KubeconfigError(
                f"exec plugin {plugin.command} exited {proc.returncode}: "
                + err.decode(errors="replace").strip()[:500]
            )
        try:
            token = json.loads(out)["status"]["token"]
        except (ValueError, KeyError, TypeError) as e:
            raise KubeconfigError(
                f"exec plugin {plugin.command}: expected an ExecCredential with status.token"
            ) from e
        return f"Bearer {token}"
