from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from k3os.security.bootstrap import ensure_server_pki
from k3os.security.errors import PKIError, TokenError
from k3os.security.pki import covered_names, ensure_ca, identity_of, issue, load_pair
from k3os.security.tokens import ca_hash, parse_token

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_first_start_makes_ca_certs_token_and_modes(tmp_path: Path) -> None:
    pki = ensure_server_pki(tmp_path, tls_sans=["edge.example", "10.0.0.7"], now=NOW)
    ca_life = pki.ca.cert.not_valid_after_utc - pki.ca.cert.not_valid_before_utc
    leaf_life = pki.serving.cert.not_valid_after_utc - pki.serving.cert.not_valid_before_utc
    assert dt.timedelta(days=3649) < ca_life <= dt.timedelta(days=3651)
    assert dt.timedelta(days=364) < leaf_life <= dt.timedelta(days=366)
    names = covered_names(pki.serving.cert)
    assert {"localhost", "127.0.0.1", "edge.example", "10.0.0.7", "kubernetes.default"} <= names
    assert identity_of(pki.admin.cert) == ("system:admin", ["system:masters"])
    for key in ("ca.key", "serving.key", "admin.key"):
        assert mode(tmp_path / "server" / "tls" / key) == 0o600
    token_text = pki.token_path.read_text().strip()
    assert mode(pki.token_path) == 0o600
    assert token_text.startswith("K10" + ca_hash(pki.ca.cert_pem) + "::server:")
    assert pki.token.secret not in repr(pki.token)


def test_second_start_reuses_everything(tmp_path: Path) -> None:
    first = ensure_server_pki(tmp_path, now=NOW)
    second = ensure_server_pki(tmp_path, now=NOW + dt.timedelta(days=30))
    assert first.ca.cert == second.ca.cert
    assert first.serving.cert == second.serving.cert
    assert str(first.token) == str(second.token)


def test_renewal_within_90_days_keeps_the_ca(tmp_path: Path) -> None:
    first = ensure_server_pki(tmp_path, now=NOW)
    later = NOW + dt.timedelta(days=280)
    second = ensure_server_pki(tmp_path, now=later)
    assert second.ca.cert == first.ca.cert
    assert second.serving.cert != first.serving.cert
    assert second.serving.cert.not_valid_after_utc > later + dt.timedelta(days=300)
    assert second.admin.cert != first.admin.cert


def test_new_tls_san_reissues_serving_cert(tmp_path: Path) -> None:
    first = ensure_server_pki(tmp_path, now=NOW)
    second = ensure_server_pki(tmp_path, tls_sans=["new.example"], now=NOW)
    assert second.serving.cert != first.serving.cert
    assert "new.example" in covered_names(second.serving.cert)


def test_token_flag_sets_the_secret(tmp_path: Path) -> None:
    pki = ensure_server_pki(tmp_path, token="my-cluster-secret", now=NOW)
    assert pki.token.secret == "my-cluster-secret"
    assert parse_token(pki.token_path.read_text()).secret == "my-cluster-secret"
    with pytest.raises(TokenError, match="different CA"):
        ensure_server_pki(tmp_path, token="K10" + "0" * 64 + "::server:abcdefgh", now=NOW)


def test_kubeconfig_embeds_ca_and_admin(tmp_path: Path) -> None:
    pki = ensure_server_pki(tmp_path, now=NOW)
    path = pki.write_admin_kubeconfig("https://127.0.0.1:6443")
    assert mode(path) == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert doc["users"][0]["user"]["client-key-data"]
    assert doc["current-context"] == "default"


def test_corrupt_key_is_a_clear_error(tmp_path: Path) -> None:
    ensure_server_pki(tmp_path, now=NOW)
    (tmp_path / "server" / "tls" / "admin.key").write_text("garbage")
    with pytest.raises(PKIError, match=r"admin\.crt"):
        ensure_server_pki(tmp_path, now=NOW)


def test_issue_from_public_key_and_usage_check(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, "test-ca", NOW)
    other = load_pair(ca.cert_path, ca.key_path)
    cert, key = issue(
        ca,
        "system:node:n1",
        organizations=["system:nodes"],
        client=True,
        public_key=other.key.public_key(),
        now=NOW,
    )
    assert key is None
    assert identity_of(cert) == ("system:node:n1", ["system:nodes"])
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in eku
    with pytest.raises(PKIError, match="no usage"):
        issue(ca, "nothing", now=NOW)


@pytest.mark.parametrize(
    ("text", "user", "pinned"),
    [
        ("K10" + "a" * 64 + "::server:s3cr3t-value", "server", True),
        ("K10" + "b" * 64 + "::node:abc", "node", True),
        ("plain-secret-123", "server", False),
    ],
)
def test_parse_token_forms(text: str, user: str, pinned: bool) -> None:
    token = parse_token(text)
    assert token.user == user
    assert (token.ca_sha256 is not None) is pinned
    assert str(token) == text


@pytest.mark.parametrize("text", ["K10abc::server:x", "K10" + "a" * 64 + "server:x", "short"])
def test_malformed_tokens_are_refused(text: str) -> None:
    with pytest.raises(TokenError, match="malformed"):
        parse_token(text)


def test_token_pins_the_ca(tmp_path: Path) -> None:
    pki = ensure_server_pki(tmp_path, now=NOW)
    pki.token.check_ca(pki.ca.cert_pem)
    other = ensure_server_pki(tmp_path / "other", now=NOW)
    with pytest.raises(TokenError, match="does not match"):
        pki.token.check_ca(other.ca.cert_pem)
    with pytest.raises(TokenError, match="does not pin"):
        parse_token("plain-secret-123").check_ca(pki.ca.cert_pem)
    assert pki.token.matches_secret(pki.token.secret)
    assert not pki.token.matches_secret("nope")


def test_load_server_pki_reads_what_ensure_made_and_writes_nothing(tmp_path: Path) -> None:
    from k3os.security.bootstrap import load_server_pki

    made = ensure_server_pki(tmp_path)
    files = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    loaded = load_server_pki(tmp_path)
    assert loaded.ca.cert == made.ca.cert and loaded.serving.cert == made.serving.cert
    assert loaded.admin.cert == made.admin.cert and str(loaded.token) == str(made.token)
    sa_key = made.service_account_key.private_numbers()
    assert loaded.service_account_key.private_numbers() == sa_key
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == files
    with pytest.raises(PKIError, match=r"ca\.crt"):
        load_server_pki(tmp_path / "elsewhere")
    (tmp_path / "server" / "node-token").unlink()
    with pytest.raises(PKIError, match="node-token"):
        load_server_pki(tmp_path)
