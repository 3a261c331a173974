"""A connected app's certificate and the matching JWT signing key, made as an admin would make them.

The sandbox org checks a JWT bearer login against the certificate; tests, benches and the demo sign
with the key. Here rather than in a test module, so a bench needs no test code to log in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class JwtKeys:
    """The connected app's certificate and the worker's signing key, both PEM."""

    private_key_pem: str
    certificate_pem: str


def make_jwt_keys(days: int = 30) -> JwtKeys:
    """A fresh RSA key and a self-signed certificate for it, valid from yesterday for `days` days."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csm-sync sandbox JWT")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return JwtKeys(pem, cert.public_bytes(serialization.Encoding.PEM).decode())
