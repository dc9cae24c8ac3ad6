"""ServiceAccount JWTs: the wire shape, and every way a token is refused."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from k3os.security.bootstrap import ensure_server_pki
from k3os.security.errors import PKIError
from k3os.security.pki import new_key
from k3os.security.serviceaccount import (
    DEFAULT_ISSUER,
    TokenInvalid,
    TokenSigner,
    TokenVerifier,
    ensure_signing_key,
    key_id,
)

from .conftest import NOW

KEY = new_key()
SIGNER = TokenSigner(KEY)
VERIFIER = TokenVerifier([KEY.public_key()])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def forge(header: dict[str, Any], claims: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    """Sign arbitrary header and claims the way the signer does (to test claim checks)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


ALG = b'{"alg":"%s"}'


def raw(header: bytes, claims: bytes, signature: str) -> str:
    return f"{b64(header)}.{b64(claims)}.{signature}"


def test_token_shape_matches_upstream() -> None:
    token = SIGNER.issue("kube-system", "coredns", "uid-9", now=NOW)
    header_part, claims_part, _ = token.split(".")
    header, claims = decode(header_part), decode(claims_part)
    assert header == {"alg": "ES256", "kid": key_id(KEY.public_key()), "typ": "JWT"}
    assert claims["iss"] == DEFAULT_ISSUER
    assert claims["sub"] == "system:serviceaccount:kube-system:coredns"
    assert claims["aud"] == [DEFAULT_ISSUER, "k3os"]
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["kubernetes.io"] == {
        "namespace": "kube-system",
        "serviceaccount": {"name": "coredns", "uid": "uid-9"},
    }
    got = VERIFIER.verify(token, NOW)
    assert (got.namespace, got.name, got.uid, got.username) == (
        "kube-system",
        "coredns",
        "uid-9",
        "system:serviceaccount:kube-system:coredns",
    )


def good_claims() -> dict[str, Any]:
    stamp = int(NOW.timestamp())
    return {
        "iss": DEFAULT_ISSUER,
        "sub": "system:serviceaccount:ns:sa",
        "aud": "k3os",
        "iat": stamp,
        "exp": stamp + 60,
        "kubernetes.io": {"namespace": "ns", "serviceaccount": {"name": "sa", "uid": "u"}},
    }


HEADER = {"alg": "ES256", "kid": key_id(KEY.public_key())}


@pytest.mark.parametrize(
    ("case", "change", "message"),
    [
        ("wrong issuer", {"iss": "https://evil"}, "issuer"),
        ("no expiry", {"exp": None}, "no expiry"),
        ("no kubernetes claim", {"kubernetes.io": None}, "kubernetes.io"),
        ("subject mismatch", {"sub": "system:serviceaccount:ns:other"}, "subject"),
        (
            "empty namespace",
            {"kubernetes.io": {"namespace": "", "serviceaccount": {}}},
            "namespace",
        ),
    ],
)
def test_claims_are_checked(case: str, change: dict[str, Any], message: str) -> None:
    claims = good_claims() | change
    token = forge(HEADER, claims, KEY)
    with pytest.raises(TokenInvalid, match=message):
        VERIFIER.verify(token, NOW)


def test_string_audience_is_accepted() -> None:
    assert VERIFIER.verify(forge(HEADER, good_claims(), KEY), NOW).audiences == ("k3os",)


@pytest.mark.parametrize(
    ("case", "token", "message"),
    [
        ("two parts", "eyJa.b", "not a JWT"),
        ("bad base64", "eyJ!.e30.e30", "base64|JSON"),
        ("not json", raw(b"nope", b"{}", "x"), "JSON"),
        ("json list", raw(b"[]", b"{}", "x"), "malformed token"),
        ("alg none", raw(ALG % b"none", b"{}", ""), "algorithm"),
        ("alg HS256", raw(ALG % b"HS256", b"{}", ""), "algorithm"),
        ("short signature", raw(ALG % b"ES256", b"{}", b64(b"12")), "signature"),
    ],
)
def test_malformed_tokens(case: str, token: str, message: str) -> None:
    with pytest.raises(TokenInvalid, match=message):
        VERIFIER.verify(token, NOW)


def test_tampered_claims_break_the_signature() -> None:
    header, _, sig = SIGNER.issue("ns", "sa", "u", now=NOW).split(".")
    claims = good_claims() | {"sub": "system:serviceaccount:kube-system:admin"}
    tampered = f"{header}.{b64(json.dumps(claims).encode())}.{sig}"
    with pytest.raises(TokenInvalid, match="signature"):
        VERIFIER.verify(tampered, NOW)


def test_unknown_kid_tries_every_key_and_rotation_works() -> None:
    old, new = new_key(), new_key()
    verifier = TokenVerifier([old.public_key(), new.public_key()])
    token = forge({"alg": "ES256", "kid": "unknown"}, good_claims(), old)
    assert verifier.verify(token, NOW).name == "sa"
    assert verifier.verify(TokenSigner(new).issue("a", "b", "c", now=NOW), NOW).name == "b"


def test_signer_needs_an_audience() -> None:
    with pytest.raises(ValueError, match="audience"):
        SIGNER.issue("a", "b", "c", audiences=[], now=NOW)


def test_looks_like_jwt() -> None:
    assert TokenVerifier.looks_like_jwt(SIGNER.issue("a", "b", "c", now=NOW))
    assert not TokenVerifier.looks_like_jwt("K10abc::server:secret")


def test_signing_key_file(tmp_path: Path) -> None:
    path = tmp_path / "tls" / "service-account.key"
    key = ensure_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_id(ensure_signing_key(path).public_key()) == key_id(key.public_key())
    path.write_text("garbage")
    with pytest.raises(PKIError, match="service-account key"):
        ensure_signing_key(path)
    p384 = ec.generate_private_key(ec.SECP384R1())
    path.write_bytes(
        p384.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(PKIError, match="P-256"):
        ensure_signing_key(path)


def test_server_pki_makes_and_keeps_the_signing_key(tmp_path: Path) -> None:
    first = ensure_server_pki(tmp_path, now=NOW)
    path = tmp_path / "server" / "tls" / "service-account.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = ensure_server_pki(tmp_path, now=NOW)
    assert key_id(first.service_account_key.public_key()) == key_id(
        second.service_account_key.public_key()
    )
