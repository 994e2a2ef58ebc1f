"""RSA signing keys: loaded from PEM in the environment or made once into the data folder."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from servicekit.web.files import atomic_write


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    private_pem: bytes
    kid: str

    @classmethod
    def from_pem(cls, private_pem: bytes) -> SigningKey:
        private = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("JWT signing key must be an RSA private key")
        return cls(private_pem=private_pem, kid=thumbprint(private.public_key()))

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        private = serialization.load_pem_private_key(self.private_pem, password=None)
        return private.public_key()  # type: ignore[return-value]

    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.public_key, kid=self.kid)


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint: the key id, stable for a key and different for another."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwk(public_key: rsa.RSAPublicKey, *, kid: str) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }


def generate_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_or_create_signing_key(*, pem: str | None, path: Path) -> SigningKey:
    """The PEM given (settings/env) wins; else the file at `path`, made on first use (0600)."""
    if pem:
        return SigningKey.from_pem(pem.encode())
    if not path.exists():
        atomic_write(path, generate_private_pem(), mode=0o600)
    return SigningKey.from_pem(path.read_bytes())


def jwks_document(keys: list[SigningKey], extra_public_jwks: list[dict] | None = None) -> dict:
    """The `/.well-known/jwks.json` body: every key a verifier may meet (active and retiring)."""
    return {"keys": [k.public_jwk() for k in keys] + list(extra_public_jwks or [])}
