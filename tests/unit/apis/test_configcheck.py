"""spec.config is read and checked by the config engine's own rules."""

from __future__ import annotations

import pytest

from k3os.apis import canonical_config, check_config
from k3os.config import ConfigSchemaError


def test_tolerant_spelling_comes_out_canonical_with_appends_kept() -> None:
    data = canonical_config(
        {"sshAuthorizedKey": "ssh-ed25519 A", "k3os": {"k3sArgs+": ["--disable=traefik"]}},
        source="NodeConfig/x",
    )
    assert data == {
        "ssh_authorized_keys": ["ssh-ed25519 A"],
        "k3os": {"k3s_args+": ["--disable=traefik"]},
    }


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"nope": 1}, "NodeConfig/x: nope: unknown key"),
        ({"k3os": {"wifi": [{"name": 5, "passphrase": []}]}}, "NodeConfig/x: k3os.wifi[0]"),
    ],
)
def test_bad_config_names_the_object_and_field(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigSchemaError) as caught:
        canonical_config(config, source="NodeConfig/x")
    assert str(caught.value).startswith(message)


def test_check_config() -> None:
    check_config({"hostname": "edge-1"})
    with pytest.raises(ConfigSchemaError, match="write_files"):
        check_config({"write_files": "nope"})
