"""EC signing keys: generate, load (a PEM file, or PEM text from the environment), identify.

OMS key-based signatures use elliptic-curve keys on the curves Sigstore's bundle format
names (P-256, P-384, P-521), each signed with the SHA-2 hash of matching size. A key's id is
the sha256 of its public key in PEM SubjectPublicKeyInfo form: the ``publicKey.hint`` that
model_signing writes into every key-signed bundle, so a verifier can pick the right key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tether.errors import SigningKeyError

CURVES: dict[str, type[ec.EllipticCurve]] = {
    "p256": ec.SECP256R1,
    "p384": ec.SECP384R1,
    "p521": ec.SECP521R1,
}
_HASH_BY_SIZE: dict[int, type[hashes.HashAlgorithm]] = {
    256: hashes.SHA256,
    384: hashes.SHA384,
    521: hashes.SHA512,
}
PEM_PREFIX = "-----BEGIN"


@dataclass(frozen=True)
class TrustedKey:
    """A public key allowed to sign, with its id and where it was read from."""

    key: ec.EllipticCurvePublicKey
    id: str
    source: str

    @property
    def short_id(self) -> str:
        return self.id[:16]


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: ec.EllipticCurvePublicKey) -> str:
    """The key's OMS hint: sha256 hex of its PEM SubjectPublicKeyInfo."""
    return hashlib.sha256(public_pem(key)).hexdigest()


def signature_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    """The hash ECDSA uses with this key (by curve size, as model_signing does)."""
    return _HASH_BY_SIZE[key.curve.key_size]()


def _check_curve(key: object, where: str) -> None:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningKeyError(f"{where} is not an elliptic-curve key")
    if key.curve.key_size not in _HASH_BY_SIZE or key.curve.name not in {
        curve.name for curve in CURVES.values()
    }:
        raise SigningKeyError(f"{where} uses curve {key.curve.name}, which OMS does not support")


def load_public_key(data: bytes, *, where: str) -> TrustedKey:
    """A PEM public key (a private key is refused: it must never sit in a trust policy)."""
    if b"PRIVATE KEY" in data:
        raise SigningKeyError(
            f"{where} holds a private key",
            "put only the public key (.pub) in [trust]; keep the private key secret",
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(f"{where} is not a PEM public key ({exc})") from None
    _check_curve(key, where)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return TrustedKey(key, key_id(key), where)


def load_private_key(spec: str, password: str | None = None) -> ec.EllipticCurvePrivateKey:
    """A private key from PEM text (e.g. a CI secret in an environment variable) or a file."""
    if spec.lstrip().startswith(PEM_PREFIX):
        data, where = spec.strip().encode() + b"\n", "the signing key given as PEM text"
    else:
        path = Path(spec).expanduser()
        where = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(
                f"cannot read signing key {path}: {exc.strerror}",
                "pass a PEM private key file, or its text in TETHER_SIGNING_KEY",
            ) from None
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except TypeError:
        raise SigningKeyError(
            f"{where} is encrypted and no password was given"
            if not password
            else f"{where} is not encrypted, but a password was given",
            "set TETHER_SIGNING_KEY_PASSWORD to the key's password (or unset it)",
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(f"{where} is not a usable PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningKeyError(f"{where} is not an elliptic-curve private key")
    _check_curve(key.public_key(), where)
    return key


def generate_key(
    private_path: Path, public_path: Path, *, curve: str = "p256", password: str | None = None
) -> TrustedKey:
    """Write a new key pair: the private key readable by its owner only, never overwritten."""
    if curve not in CURVES:
        raise SigningKeyError(f"unknown curve {curve!r}", f"choose one of {', '.join(CURVES)}")
    for path in (private_path, public_path):
        if path.exists():
            raise SigningKeyError(
                f"{path} exists", "keys are never overwritten: choose another --out"
            )
    key = ec.generate_private_key(CURVES[curve]())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: a racing generate cannot clobber a key; 0600: the key is born private.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(public_pem(key.public_key()))
    return TrustedKey(key.public_key(), key_id(key.public_key()), str(public_path))
