"""Signatures in the OpenSSF Model Signing (OMS) format: pure cryptography over a listing.

A release's signature is ``model.sig``: an OMS signature over every file of the release,
MANIFEST.txt and provenance.intoto.json included, i.e. exactly what model_signing's default
``files`` serialisation of a downloaded release folder yields, so the reference verifier
accepts it::

    tether download 1.0.1 --dest rel && model_signing verify key rel \\
        --signature rel/model.sig --public_key release.pub

The signed statement is a list of (path, sha256) that must equal the release's MANIFEST.txt
listing plus MANIFEST.txt's own digest. A fetch therefore needs no extra hashing: checking
the signature and then each downloaded file against MANIFEST proves every byte, also for a
profile folder that holds only some variants' files.

As in model_signing, the cryptography does no I/O on releases: it signs and checks a
listing {path: sha256} it is given. Reading stores, MANIFESTs and folders, and writing
model.sig into a release's record, is the spine's (tether.spine.sign, .trust, .verify);
this room imports neither the spine nor the stores. What to do with a verdict is the trust
policy's (tether.spine.trust).

Needs ``cryptography`` (the ``tether[sign]`` extra); keyless Sigstore signing also needs
``model_signing`` (``tether[sigstore]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from tether.errors import (
    SignatureInvalidError,
    SignedFileAddedError,
    SignedFileChangedError,
    SignedFileRemovedError,
    UnknownSigningKeyError,
    UnsupportedSignatureError,
)
from tether.names import MANIFEST_FILE, SIGNATURE_FILE
from tether.signing._keys import (
    CURVES,
    TrustedKey,
    generate_key,
    key_id,
    load_private_key,
    load_public_key,
)
from tether.signing._oms import (
    EMPTY_SHA256,
    PAYLOAD_TYPE,
    SHARDS,
    Shard,
    Statement,
    parse_bundle,
    parse_statement,
    render_statement,
    sign_with_key,
    signed_files,
    verify_with_key,
)
from tether.signing._sigstore import Identity, sign_keyless, verify_keyless

__all__ = [
    "CURVES",
    "SIGNATURE_FILE",
    "FileShards",
    "Identity",
    "KeySigner",
    "Shard",
    "Signer",
    "SigstoreSigner",
    "Statement",
    "TrustedKey",
    "Verified",
    "compare_files",
    "generate_key",
    "load_public_key",
    "load_signer",
    "read_claim",
    "signed_files",
    "verify_signature",
]

SIGSTORE = "sigstore"  # the --sign value that selects keyless signing


# --- signers ------------------------------------------------------------------------------


class Signer(Protocol):
    """Turns a file listing into model.sig bytes."""

    description: str

    def sign(self, model_name: str, files: dict[str, str]) -> bytes: ...


@dataclass(frozen=True)
class KeySigner:
    """Signs offline with an EC private key."""

    key: ec.EllipticCurvePrivateKey

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key())

    @property
    def description(self) -> str:
        return f"key {self.key_id[:16]}"

    def sign(self, model_name: str, files: dict[str, str]) -> bytes:
        return sign_with_key(render_statement(model_name, files), self.key)


@dataclass(frozen=True)
class SigstoreSigner:
    """Signs keylessly through Sigstore with an OIDC identity (needs the network)."""

    identity_token: str | None = None
    use_staging: bool = False
    description: str = "Sigstore (keyless)"

    def sign(self, model_name: str, files: dict[str, str]) -> bytes:
        return sign_keyless(
            model_name, files, identity_token=self.identity_token, use_staging=self.use_staging
        )


def load_signer(
    spec: str, *, password: str | None = None, identity_token: str | None = None
) -> Signer:
    """``sigstore`` for keyless signing; else a PEM private key file, or its PEM text."""
    if spec.strip() == SIGSTORE:
        return SigstoreSigner(identity_token=identity_token)
    return KeySigner(load_private_key(spec, password))


# --- verifying ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """A signature that verified with a trusted key or identity, and what it vouches for."""

    statement: Statement
    signer: str  # "key 3335c05babb2fd70 (keys/release.pub)" or "Sigstore alice@... (issuer)"


def verify_signature(
    data: bytes,
    *,
    keys: Sequence[TrustedKey],
    identities: Sequence[Identity] = (),
    where: str,
) -> Verified:
    """Check model.sig's signature against the trusted keys or identities.

    Raises UnknownSigningKeyError (signed, but not by anyone trusted) or
    SignatureInvalidError (malformed, or the signature does not verify).
    """
    bundle = parse_bundle(data, where=f"model.sig of {where}")
    if bundle.keyless:
        payload_type, payload, identity = verify_keyless(
            data, list(identities), where=f"model.sig of {where}"
        )
        signer = f"Sigstore identity {identity}"
    else:
        hint = bundle.key_hint
        candidates = [k for k in keys if k.id == hint] if hint else list(keys)
        if not candidates:
            trusted = [f"trusted: key {k.short_id} ({k.source})" for k in keys]
            raise UnknownSigningKeyError(
                f"{where} is signed by key {hint[:16] if hint else '?'}, "
                "which the trust policy does not list",
                problems=trusted or ["the trust policy lists no keys"],
            )
        matched = next((k for k in candidates if verify_with_key(bundle, k)), None)
        if matched is None:
            if not hint:  # an old bundle that names no key: we cannot tell forged from unknown
                raise UnknownSigningKeyError(
                    f"{where} is signed, but by none of the {len(keys)} trusted key(s)"
                )
            raise SignatureInvalidError(
                f"the signature of {where} does not verify with key {hint[:16]}, which it names"
            )
        payload_type, payload = bundle.payload_type, bundle.payload
        signer = f"key {matched.short_id} ({matched.source})"
    if payload_type != PAYLOAD_TYPE:
        raise SignatureInvalidError(f"model.sig of {where} signs {payload_type!r}, not in-toto")
    return Verified(parse_statement(payload, where=f"model.sig of {where}"), signer)


#: (path, shard size) -> the shards of that file of the folder at hand, cut as model_signing does.
FileShards = Callable[[str, int], tuple[Shard, ...]]


def compare_files(
    statement: Statement,
    actual: dict[str, str],
    *,
    where: str,
    listing: set[str] | None = None,
    file_shards: FileShards | None = None,
) -> None:
    """Refuse any difference between what was signed and what the release holds now.

    ``actual`` is the release's digests (from its MANIFEST, or hashed); ``listing`` the
    files the store or folder really holds, when known. Files under the statement's
    ignore_paths (git metadata) are not compared, as model_signing does; MANIFEST.txt
    always is, whatever the ignore list says, since it lists those files' digests too
    (tests/signing/test_signing_hardening.py). A changed file outranks an added one, which
    outranks a removed one; every difference is listed in ``problems``.

    A ``shards`` signature's files of several shards are compared through ``file_shards``
    (a folder's bytes); without it they cannot be, and the signature is refused as
    unsupported, never as forged.
    """
    signed = statement.files
    covered = statement.paths

    def compared(paths: set[str]) -> set[str]:
        return {p for p in paths if p == MANIFEST_FILE or not statement.ignores(p)}

    present = compared(set(actual) | (listing or set()))
    if statement.method == SHARDS:  # model_signing gives an empty file no shard to sign
        present = {p for p in present if p in covered or actual.get(p) != EMPTY_SHA256}
    changed = [p for p in set(signed) & set(actual) if signed[p] != actual[p]]
    unchecked = []
    for p in sorted(set(statement.shards) & set(actual)):
        if file_shards is None or statement.shard_size is None:
            unchecked.append(p)
        elif tuple(file_shards(p, statement.shard_size)) != statement.shards[p]:
            changed.append(p)
    changed.sort()
    added = sorted(present - covered)
    removed = covered - set(actual)
    if listing is not None:
        removed |= covered - listing
    problems = [f"changed after signing: {p}" for p in changed]
    problems += [f"added after signing: {p}" for p in added]
    problems += [f"removed after signing: {p}" for p in sorted(removed)]
    content_changed = [p for p in changed if p != MANIFEST_FILE]
    if content_changed:
        raise SignedFileChangedError(
            f"{where}: {_few(content_changed)} changed after signing", problems=problems
        )
    if added:
        if MANIFEST_FILE in added and statement.ignores(MANIFEST_FILE):
            raise SignedFileAddedError(
                f"{where}: the signature leaves out {MANIFEST_FILE} (its ignore list names it), "
                "and tether always checks it",
                "sign the folder again without ignoring MANIFEST.txt (tether sign does)",
                problems=problems,
            )
        raise SignedFileAddedError(f"{where}: {_few(added)} added after signing", problems=problems)
    if removed:
        raise SignedFileRemovedError(
            f"{where}: {_few(sorted(removed))} removed after signing", problems=problems
        )
    if changed:
        raise SignedFileChangedError(
            f"{where}: {MANIFEST_FILE} changed after signing", problems=problems
        )
    if unchecked:
        raise UnsupportedSignatureError(
            f"{where}: unsupported serialization here: signed as shards of "
            f"{statement.shard_size} bytes, and {_few(unchecked)} span several shards, which "
            "tether checks only against a folder's bytes",
            "check the downloaded folder (tether verify --signature DIR), or sign with the "
            "'files' serialization (tether sign, or model_signing's default)",
        )


def _few(paths: list[str]) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def read_claim(data: bytes, *, where: str) -> tuple[Statement, str]:
    """What a model.sig made elsewhere claims, before anyone checks who signed it: its
    statement, and its signer's key hint (``keyless`` for Sigstore, else ``unknown``).

    Raises SignatureInvalidError when it is not an OMS signature over an in-toto statement.
    """
    bundle = parse_bundle(data, where=where)
    if bundle.payload_type != PAYLOAD_TYPE:
        raise SignatureInvalidError(f"{where} does not sign an in-toto statement")
    statement = parse_statement(bundle.payload, where=where)
    return statement, bundle.key_hint or ("keyless" if bundle.keyless else "unknown")
