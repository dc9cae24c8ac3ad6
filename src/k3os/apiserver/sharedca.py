"""Several servers on one shared datastore (etcd) form one cluster: one CA, one
ServiceAccount signing key, one token.

The first server to start seals its CA and signing key with the token's secret and stores
them under `/bootstrap/<hash of the secret>`; every later server given the same token reads
them from there before it issues its own serving and client certificates. A server started
without `--token` uses the one in its data dir, or, on an empty datastore, makes one. A
datastore that already holds a record sealed with another token refuses the server, rather
than letting a second CA split the cluster.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from k3os.security.clustersecrets import (
    BOOTSTRAP_PREFIX,
    SHARED_FILES,
    bootstrap_key,
    read_shared,
    seal,
    unseal,
    write_shared,
)
from k3os.security.errors import SecurityError
from k3os.security.pki import ensure_ca
from k3os.security.serviceaccount import ensure_signing_key
from k3os.security.tokens import new_secret, parse_token
from k3os.store import KeyExists, Store, open_store

__all__ = [
    "SHARED_SCHEMES",
    "SharedSecretsError",
    "is_shared",
    "prepare_datastore",
    "share_cluster_secrets",
]

log = logging.getLogger(__name__)

SHARED_SCHEMES = ("etcd", "http", "https")


class SharedSecretsError(SecurityError):
    """The cluster's secrets in the datastore and this server's cannot be reconciled."""


def is_shared(datastore: str) -> bool:
    """Whether other servers may use the same datastore (so the secrets must be shared)."""
    return datastore.split("://", 1)[0].lower() in SHARED_SCHEMES


def _local_secret(data_dir: Path) -> str | None:
    path = data_dir / "server" / "node-token"
    return parse_token(path.read_text()).secret if path.exists() else None


async def share_cluster_secrets(store: Store, data_dir: Path, token: str | None) -> str:
    """Make this data dir hold the cluster's shared CA and signing key; return the token
    (the one given, else this data dir's, else a new secret) for `ensure_server_pki`."""
    secret = parse_token(token).secret if token else _local_secret(data_dir)
    if secret is None:
        if (await store.range(BOOTSTRAP_PREFIX, limit=1)).items:
            raise SharedSecretsError(
                "the datastore already holds a cluster's CA: start this server with that "
                "cluster's token (--token; it is in <data-dir>/server/node-token of its servers)"
            )
        secret = new_secret()
    token = token or secret
    key = bootstrap_key(secret)
    tls = data_dir / "server" / "tls"
    kv = await store.get(key)
    fresh = False
    if kv is None:
        if (await store.range(BOOTSTRAP_PREFIX, limit=1)).items:
            raise SharedSecretsError(
                "the datastore holds a cluster's CA sealed with another token: give this "
                "server that cluster's token (--token)"
            )
        fresh = read_shared(tls) is None
        ensure_ca(tls, "k3os-ca")
        ensure_signing_key(tls / "service-account.key")
        local = read_shared(tls)
        assert local is not None
        try:
            await store.create(key, seal(local, secret, aad=key))
        except KeyExists as e:  # another server published first: theirs is the cluster's
            kv = e.current
        else:
            log.info("published the cluster CA and signing key to the datastore (sealed)")
            return token
    if kv is None:  # created then deleted under our feet: read again
        kv = await store.get(key)
        if kv is None:
            raise SharedSecretsError(f"{key}: the cluster's sealed secrets vanished; try again")
    shared = unseal(kv.value, secret, aad=key)
    local = {} if fresh else _present(tls)
    differ = sorted(name for name, data in local.items() if data != shared[name])
    if differ:
        raise SharedSecretsError(
            f"{tls}: {', '.join(differ)} differ from the cluster's in the datastore; "
            "use an empty data dir for a new server of this cluster"
        )
    if local != shared:
        write_shared(tls, shared)
        log.info("took the cluster CA and signing key from the datastore")
    return token


def _present(tls: Path) -> dict[str, bytes]:
    return {n: (tls / n).read_bytes() for n in SHARED_FILES if (tls / n).exists()}


def prepare_datastore(datastore: str, data_dir: Path, token: str | None) -> str | None:
    """For a shared datastore, fetch or publish the cluster's secrets (see the module) and
    return the token to use; any other datastore is this server's alone: `token` as given."""
    if not is_shared(datastore):
        return token

    async def exchange() -> str:
        store = await open_store(datastore)
        try:
            return await share_cluster_secrets(store, data_dir, token)
        finally:
            await store.close()

    return asyncio.run(exchange())
