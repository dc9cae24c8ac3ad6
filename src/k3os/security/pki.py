"""The cluster PKI: one CA made on first start, serving and client certificates it signs.

Keys are ECDSA P-256. The CA lives 10 years; leaf certificates 1 year and are re-issued at
start when they are within 90 days of expiry or no longer cover the requested names.
Every function takes `now` so tests can move the clock.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from k3os.security.errors import PKIError
from k3os.security.files import write_private, write_public

CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=90)
# Tolerate small clock differences between boxes when a certificate is brand new.
BACKDATE = dt.timedelta(minutes=5)

PrivateKey = ec.EllipticCurvePrivateKey


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class KeyPair:
    """A certificate with its private key, and where they are stored."""

    cert: x509.Certificate
    key: PrivateKey
    cert_path: Path
    key_path: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return key_to_pem(self.key)


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def make_ca(
    common_name: str, now: dt.datetime | None = None
) -> tuple[x509.Certificate, PrivateKey]:
    """A self-signed CA certificate and its key."""
    start = (now or utcnow()) - BACKDATE
    key = new_key()
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _san_entries(names: Iterable[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in sorted(set(names)):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def issue(
    ca: KeyPair,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    server_names: Iterable[str] = (),
    client: bool = False,
    public_key: ec.EllipticCurvePublicKey | None = None,
    lifetime: dt.timedelta = LEAF_LIFETIME,
    now: dt.datetime | None = None,
) -> tuple[x509.Certificate, PrivateKey | None]:
    """Sign a leaf certificate. A new key is made unless `public_key` is given (a CSR)."""
    start = (now or utcnow()) - BACKDATE
    key = None if public_key is not None else new_key()
    pub = public_key if public_key is not None else key.public_key()  # type: ignore[union-attr]
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    sans = _san_entries(server_names)
    if sans:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if not usages:
        raise PKIError(f"certificate for {common_name!r} would have no usage")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca.cert.subject)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(min(start + lifetime, ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, hashes.SHA256()), key


def covered_names(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    dns = ext.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return set(dns) | set(ips)


def needs_renewal(cert: x509.Certificate, now: dt.datetime | None = None) -> bool:
    return cert.not_valid_after_utc - (now or utcnow()) <= RENEW_BEFORE


def load_pair(cert_path: Path, key_path: Path) -> KeyPair:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as e:
        raise PKIError(f"{cert_path}: cannot load certificate and key: {e}") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PKIError(f"{key_path}: expected an EC private key")
    return KeyPair(cert, key, cert_path, key_path)


def save_pair(cert: x509.Certificate, key: PrivateKey, cert_path: Path, key_path: Path) -> KeyPair:
    write_private(key_path, key_to_pem(key))
    write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return KeyPair(cert, key, cert_path, key_path)


def ensure_ca(directory: Path, common_name: str, now: dt.datetime | None = None) -> KeyPair:
    """Load the CA in `directory`, making it on first use. An existing CA is never replaced."""
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if cert_path.exists() or key_path.exists():
        return load_pair(cert_path, key_path)
    cert, key = make_ca(common_name, now)
    return save_pair(cert, key, cert_path, key_path)


def ensure_leaf(
    ca: KeyPair,
    directory: Path,
    stem: str,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    server_names: Iterable[str] = (),
    client: bool = False,
    now: dt.datetime | None = None,
) -> tuple[KeyPair, bool]:
    """Load `stem.crt`/`stem.key`, re-issuing when missing, expiring, or not fit.

    Returns the pair and whether it was (re)issued.
    """
    names = set(server_names)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    if cert_path.exists() and key_path.exists():
        pair = load_pair(cert_path, key_path)
        fits = (
            not needs_renewal(pair.cert, now)
            and names <= covered_names(pair.cert)
            and pair.cert.issuer == ca.cert.subject
        )
        if fits:
            return pair, False
    cert, key = issue(
        ca,
        common_name,
        organizations=organizations,
        server_names=names,
        client=client,
        now=now,
    )
    assert key is not None
    return save_pair(cert, key, cert_path, key_path), True


def identity_of(cert: x509.Certificate) -> tuple[str, list[str]]:
    """The Kubernetes user (CN) and groups (O) a client certificate names."""
    subject = cert.subject
    cns = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    user = str(cns[0].value) if cns else ""
    return user, [str(o.value) for o in orgs]
