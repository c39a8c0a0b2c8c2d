"""Keyless (Sigstore) signing and verification, through the model_signing library.

Keyless signing needs the network: an OIDC identity token (ambient in CI, e.g. GitHub
Actions' id-token, or passed explicitly), Fulcio for a short-lived certificate and Rekor
for the transparency log; verification fetches Sigstore's trust root. So this path works
only where the network allows; key-based signing (_oms) works fully offline.

model_signing is imported here only, lazily: it pulls in sigstore, tuf and friends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from tether.errors import MissingDependencyError, SignatureInvalidError, UnknownSigningKeyError
from tether.signing._oms import DEFAULT_IGNORE_PATHS, resource_order, signed_files


@dataclass(frozen=True)
class Identity:
    """A keyless signer allowed by the trust policy: an OIDC identity and its issuer."""

    identity: str
    issuer: str

    def __str__(self) -> str:
        return f"{self.identity} ({self.issuer})"


def _import_model_signing() -> tuple[Any, Any, Any, Any]:
    try:
        from model_signing import manifest
        from model_signing._hashing import hashing
        from model_signing._signing import sign_sigstore, signing
    except ImportError as exc:
        raise MissingDependencyError(
            f"keyless Sigstore signing needs model_signing ({exc.name} is not installed)",
            "pip install 'tether[sigstore]', or sign with a key: --signing-key KEY",
        ) from None
    return manifest, hashing, sign_sigstore, signing


def sign_keyless(
    model_name: str,
    files: dict[str, str],
    *,
    identity_token: str | None = None,
    use_staging: bool = False,
) -> bytes:
    """A Sigstore bundle over the OMS statement of ``files``; the signer is the OIDC identity."""
    manifest, hashing, sign_sigstore, signing = _import_model_signing()
    files = signed_files(files)
    items = [
        manifest.FileManifestItem(
            path=PurePosixPath(path), digest=hashing.Digest("sha256", bytes.fromhex(files[path]))
        )
        for path in sorted(files, key=resource_order)
    ]
    serialization = manifest._FileSerialization("sha256", False, list(DEFAULT_IGNORE_PATHS))
    signer = sign_sigstore.Signer(
        identity_token=identity_token,
        use_ambient_credentials=identity_token is None,
        use_staging=use_staging,
    )
    signature = signer.sign(signing.Payload(manifest.Manifest(model_name, items, serialization)))
    return signature.bundle.to_json().encode()


def verify_keyless(
    data: bytes, identities: list[Identity], *, where: str
) -> tuple[str, bytes, Identity]:
    """(payload type, payload, signer) of a keyless bundle signed by one of ``identities``."""
    if not identities:
        raise UnknownSigningKeyError(
            f"{where} is signed keylessly (Sigstore), and [trust] lists no identities",
            "add the signer to [trust] identities = [{identity = ..., issuer = ...}]",
        )
    _, _, sign_sigstore, _ = _import_model_signing()
    try:
        signature = sign_sigstore.Signature(
            sign_sigstore.sigstore_models.Bundle.from_json(data.decode("utf-8"))
        )
    except Exception as exc:  # the sigstore client raises several unrelated types here
        raise SignatureInvalidError(f"{where} is not a valid Sigstore bundle: {exc}") from None
    failures = []
    for allowed in identities:
        verifier = sign_sigstore.Verifier(identity=allowed.identity, oidc_issuer=allowed.issuer)
        try:
            payload_type, payload = verifier._verify_signed_content(signature)
            return payload_type, payload, allowed
        except Exception as exc:  # VerificationError, or a network failure fetching the root
            failures.append(f"{allowed}: {exc}")
    raise UnknownSigningKeyError(
        f"{where} is not a valid Sigstore signature by any identity [trust] lists",
        problems=failures,
    )
