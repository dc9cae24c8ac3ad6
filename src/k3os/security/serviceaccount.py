"""ServiceAccount tokens: ES256-signed JWTs in the shape kube-apiserver issues.

Claims: `iss`, `sub` (`system:serviceaccount:<ns>:<name>`), `aud` (a list), `iat`, `nbf`,
`exp`, `jti` and the private `kubernetes.io` claim `{namespace, serviceaccount: {name, uid}}`
(plus `pod: {name, uid}` when bound to a pod). The header's `kid` is the unpadded
base64url sha256 of the public key's DER, as upstream computes it.

Only ES256 is accepted when verifying — the `alg` in a token never chooses the algorithm —
and a token is rejected when its issuer, audience, lifetime or signature is wrong. The
signing key is one P-256 key at `<data-dir>/server/tls/service-account.key` (0600); the
verifier may hold several public keys so the key can be rotated.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from k3os.security.errors import PKIError
from k3os.security.files import write_private
from k3os.security.pki import key_to_pem, new_key, utcnow

__all__ = [
    "DEFAULT_AUDIENCES",
    "DEFAULT_ISSUER",
    "ServiceAccountClaims",
    "TokenInvalid",
    "TokenSigner",
    "TokenVerifier",
    "ensure_signing_key",
    "key_id",
    "service_account_username",
]

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_AUDIENCES = (DEFAULT_ISSUER, "k3os")
DEFAULT_LIFETIME = dt.timedelta(hours=1)
# Clocks of edge boxes drift: a token may claim to be valid from slightly in the future.
NOT_BEFORE_LEEWAY = dt.timedelta(seconds=60)
SA_PREFIX = "system:serviceaccount:"
_P256_BYTES = 32


class TokenInvalid(Exception):
    """Why a bearer token was not accepted; never carries the token itself."""


def service_account_username(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise TokenInvalid("malformed base64 in token") from e


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _b64(hashlib.sha256(der).digest())


def ensure_signing_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Load the ServiceAccount signing key, making it (0600) on first use."""
    if not path.exists():
        key = new_key()
        write_private(path, key_to_pem(key))
        return key
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as e:
        raise PKIError(f"{path}: cannot load the service-account key: {e}") from e
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise PKIError(f"{path}: expected an EC P-256 private key")
    return loaded


@dataclass(frozen=True)
class ServiceAccountClaims:
    """The identity a verified token carries."""

    namespace: str
    name: str
    uid: str
    audiences: tuple[str, ...]
    expires: dt.datetime
    token_id: str
    pod_name: str = ""
    pod_uid: str = ""

    @property
    def username(self) -> str:
        return service_account_username(self.namespace, self.name)


class TokenSigner:
    """Issues tokens with the server's key (the TokenRequest API and the SA controller)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, issuer: str = DEFAULT_ISSUER) -> None:
        self._key = key
        self.issuer = issuer
        self.key_id = key_id(key.public_key())

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def issue(
        self,
        namespace: str,
        name: str,
        uid: str,
        *,
        audiences: Sequence[str] = DEFAULT_AUDIENCES,
        lifetime: dt.timedelta = DEFAULT_LIFETIME,
        pod: tuple[str, str] | None = None,
        now: dt.datetime | None = None,
    ) -> str:
        if not audiences:
            raise ValueError("a token needs at least one audience")
        issued = int((now or utcnow()).timestamp())
        k8s: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": uid},
        }
        if pod is not None:
            k8s["pod"] = {"name": pod[0], "uid": pod[1]}
        claims = {
            "iss": self.issuer,
            "sub": service_account_username(namespace, name),
            "aud": list(audiences),
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(lifetime.total_seconds()),
            "jti": str(uuid.uuid4()),
            "kubernetes.io": k8s,
        }
        header = {"alg": "ES256", "kid": self.key_id, "typ": "JWT"}
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        return f"{signing_input}.{_b64(raw)}"


def _claim_str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise TokenInvalid(f"token claim {key!r} missing or not a string")
    return value


class TokenVerifier:
    """Checks tokens against the server's public keys, issuer and accepted audiences."""

    def __init__(
        self,
        public_keys: Iterable[ec.EllipticCurvePublicKey],
        *,
        issuer: str = DEFAULT_ISSUER,
        audiences: Sequence[str] = DEFAULT_AUDIENCES,
    ) -> None:
        self._keys = {key_id(k): k for k in public_keys}
        self.issuer = issuer
        self.audiences = tuple(audiences)

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        return token.count(".") == 2 and token.startswith("eyJ")

    def verify(self, token: str, now: dt.datetime | None = None) -> ServiceAccountClaims:
        """Return the claims of a valid token; raise TokenInvalid saying why otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenInvalid("not a JWT")
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, UnicodeDecodeError) as e:
            raise TokenInvalid("malformed JSON in token") from e
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise TokenInvalid("malformed token header or claims")
        if header.get("alg") != "ES256":
            raise TokenInvalid(f"unsupported token algorithm {header.get('alg')!r}")
        self._check_signature(header, parts)
        return self._check_claims(claims, now or utcnow())

    def _check_signature(self, header: dict[str, Any], parts: list[str]) -> None:
        kid = header.get("kid")
        keys = [self._keys[kid]] if kid in self._keys else list(self._keys.values())
        raw = _unb64(parts[2])
        if len(raw) != 2 * _P256_BYTES:
            raise TokenInvalid("invalid token signature")
        der = encode_dss_signature(
            int.from_bytes(raw[:_P256_BYTES], "big"), int.from_bytes(raw[_P256_BYTES:], "big")
        )
        signed = f"{parts[0]}.{parts[1]}".encode()
        for key in keys:
            try:
                key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
                return
            except InvalidSignature:
                continue
        raise TokenInvalid("invalid token signature")

    def _check_claims(self, claims: dict[str, Any], now: dt.datetime) -> ServiceAccountClaims:
        if claims.get("iss") != self.issuer:
            raise TokenInvalid("token issuer is not this cluster")
        aud = claims.get("aud")
        token_auds = (aud,) if isinstance(aud, str) else tuple(aud or ())
        if not set(token_auds) & set(self.audiences):
            raise TokenInvalid("token audiences do not include this server's")
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if not isinstance(exp, int):
            raise TokenInvalid("token has no expiry")
        stamp = now.timestamp()
        if stamp >= exp:
            raise TokenInvalid("token has expired")
        if isinstance(nbf, int) and stamp + NOT_BEFORE_LEEWAY.total_seconds() < nbf:
            raise TokenInvalid("token is not valid yet")
        k8s = claims.get("kubernetes.io")
        if not isinstance(k8s, dict) or not isinstance(k8s.get("serviceaccount"), dict):
            raise TokenInvalid("token has no kubernetes.io serviceaccount claim")
        namespace = _claim_str(k8s, "namespace")
        sa = k8s["serviceaccount"]
        name = _claim_str(sa, "name")
        if claims.get("sub") != service_account_username(namespace, name):
            raise TokenInvalid("token subject does not match its serviceaccount claim")
        pod_claim = k8s.get("pod")
        pod: dict[str, Any] = pod_claim if isinstance(pod_claim, dict) else {}
        return ServiceAccountClaims(
            namespace=namespace,
            name=name,
            uid=str(sa.get("uid", "")),
            audiences=token_auds,
            expires=dt.datetime.fromtimestamp(exp, dt.UTC),
            token_id=str(claims.get("jti", "")),
            pod_name=str(pod.get("name", "")),
            pod_uid=str(pod.get("uid", "")),
        )
