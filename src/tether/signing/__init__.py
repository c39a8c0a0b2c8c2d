"""Signed releases in the OpenSSF Model Signing (OMS) format.

A release's signature is ``model.sig``, kept in the release's mutable record (so signing
never changes the release's files) and copied beside MANIFEST.txt on fetch and download.
It is an OMS signature over every file of the release, MANIFEST.txt and
provenance.intoto.json included: exactly what model_signing's default ``files``
serialisation of a downloaded release folder yields, so the reference verifier accepts it::

    tether download 1.0.1 --dest rel && model_signing verify key rel \\
        --signature rel/model.sig --public_key release.pub

The signed statement is a list of (path, sha256) that must equal the release's MANIFEST.txt
listing plus MANIFEST.txt's own digest. A fetch therefore needs no extra hashing: checking
the signature and then each downloaded file against MANIFEST proves every byte, also for a
profile folder that holds only some variants' files.

This module needs ``cryptography`` (the ``tether[sign]`` extra); keyless Sigstore signing
also needs ``model_signing`` (``tether[sigstore]``). tether.spine.trust decides what to do with a
verdict; this module only produces and checks signatures.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from tether.errors import (
    IntegrityError,
    ReleaseExistsError,
    SignatureInvalidError,
    SignedFileAddedError,
    SignedFileChangedError,
    SignedFileRemovedError,
    UnknownSigningKeyError,
    UnsignedReleaseError,
)
from tether.hashing import list_files, sha256_bytes, sha256_files
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest
from tether.names import SIGNATURE_FILE
from tether.signing._keys import (
    CURVES,
    TrustedKey,
    generate_key,
    key_id,
    load_private_key,
    load_public_key,
)
from tether.signing._oms import (
    PAYLOAD_TYPE,
    Statement,
    is_ignored,
    parse_bundle,
    parse_statement,
    render_statement,
    sign_with_key,
    signed_files,
    verify_with_key,
)
from tether.signing._sigstore import Identity, sign_keyless, verify_keyless
from tether.spine import read_manifest, release_info, require_usable
from tether.stores.base import Store, stored_sha256
from tether.versioning import release_tag

__all__ = [
    "CURVES",
    "SIGNATURE_FILE",
    "Identity",
    "KeySigner",
    "SignResult",
    "Signer",
    "SigstoreSigner",
    "Statement",
    "TrustedKey",
    "Verified",
    "attach_signature",
    "compare_files",
    "generate_key",
    "load_public_key",
    "load_signer",
    "release_digests",
    "sign_release",
    "verify_folder",
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


def release_digests(manifest: Manifest, manifest_raw: bytes) -> dict[str, str]:
    """Every file of a release with its sha256: the MANIFEST's listing plus MANIFEST.txt."""
    return {**manifest.files, MANIFEST_FILE: sha256_bytes(manifest_raw)}


def compare_files(
    statement: Statement,
    actual: dict[str, str],
    *,
    where: str,
    listing: set[str] | None = None,
) -> None:
    """Refuse any difference between what was signed and what the release holds now.

    ``actual`` is the release's digests (from its MANIFEST, or hashed); ``listing`` the
    files the store or folder really holds, when known. Files under the statement's
    ignore_paths (git metadata) are not compared, as model_signing does; MANIFEST.txt
    always is, since it lists those files' digests too. A changed file outranks an added
    one, which outranks a removed one; every difference is listed in ``problems``.
    """
    signed = statement.files

    def compared(paths: set[str]) -> set[str]:
        return {p for p in paths if p == MANIFEST_FILE or not is_ignored(p, statement.ignore_paths)}

    present = compared(set(actual) | (listing or set()))
    changed = sorted(p for p in set(signed) & set(actual) if signed[p] != actual[p])
    added = sorted(present - set(signed))
    removed = set(signed) - set(actual)
    if listing is not None:
        removed |= set(signed) - listing
    problems = [f"changed after signing: {p}" for p in changed]
    problems += [f"added after signing: {p}" for p in added]
    problems += [f"removed after signing: {p}" for p in sorted(removed)]
    content_changed = [p for p in changed if p != MANIFEST_FILE]
    if content_changed:
        raise SignedFileChangedError(
            f"{where}: {_few(content_changed)} changed after signing", problems=problems
        )
    if added:
        raise SignedFileAddedError(f"{where}: {_few(added)} added after signing", problems=problems)
    if removed:
        raise SignedFileRemovedError(
            f"{where}: {_few(sorted(removed))} removed after signing", problems=problems
        )
    if changed:
        raise SignedFileChangedError(
            f"{where}: {MANIFEST_FILE} changed after signing", problems=problems
        )


def _few(paths: list[str]) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def verify_folder(
    folder: Path,
    *,
    keys: Sequence[TrustedKey],
    identities: Sequence[Identity] = (),
) -> tuple[Verified, int]:
    """Verify a plain folder signed with OMS (``folder/model.sig``), as model_signing does:
    every file but the signature and the statement's ignore_paths must be signed and equal.
    A tether release folder (with MANIFEST.txt) must also agree with its MANIFEST, which
    covers the ignored files too.

    Returns the verified signature and the number of files checked.
    """
    folder = Path(folder)
    where = str(folder)
    try:
        data = (folder / SIGNATURE_FILE).read_bytes()
    except FileNotFoundError:
        raise UnsignedReleaseError(f"{folder} holds no {SIGNATURE_FILE}") from None
    verified = verify_signature(data, keys=keys, identities=identities, where=where)
    ignore = verified.statement.ignore_paths
    try:
        present = [rel for rel in list_files(folder) if rel != SIGNATURE_FILE]
    except ValueError as exc:  # a symbolic link: model_signing refuses those too
        raise IntegrityError(f"{folder}: {exc}") from None
    manifest: Manifest | None = None
    if (folder / MANIFEST_FILE).is_file():
        raw = (folder / MANIFEST_FILE).read_bytes()
        manifest = parse_manifest(raw.decode("utf-8"), where=f"{folder}/{MANIFEST_FILE}")
    listed = set(manifest.files) if manifest else set()
    rels = [rel for rel in present if rel in listed or not is_ignored(rel, ignore)]
    hashed = sha256_files([folder / rel for rel in rels])
    digests = {rel: hashed[folder / rel] for rel in rels}
    compare_files(verified.statement, digests, where=where)
    if manifest is not None:
        problems = [
            f"{'missing' if rel not in digests else 'not as MANIFEST.txt lists'}: {rel}"
            for rel, digest in sorted(manifest.files.items())
            if digests.get(rel) != digest
        ]
        problems += [
            f"not in MANIFEST.txt: {rel}" for rel in sorted(set(digests) - listed - {MANIFEST_FILE})
        ]
        if problems:
            raise IntegrityError(
                f"{folder}: its files disagree with its MANIFEST.txt ({len(problems)} problem(s))",
                problems=problems,
            )
    return verified, len(digests)


# --- signing releases in a store ----------------------------------------------------------


@dataclass(frozen=True)
class SignResult:
    name: str
    version: str
    signer: str
    files: int

    @property
    def tag(self) -> str:
        return release_tag(self.version)


def sign_release(
    store: Store,
    name: str,
    version: str,
    signer: Signer,
    *,
    check_files: bool = True,
    replace: bool = False,
) -> SignResult:
    """Sign a published release: write model.sig into its record; its files do not change.

    ``check_files`` re-hashes the store's bytes first, so the signature vouches for what the
    store holds and not just for its MANIFEST (skip it right after publishing, where the
    digests were just computed).
    """
    info = require_usable(release_info(store, name, version))
    where = f"{name} {info.tag} in {store.url}"
    _refuse_resign(store, name, info.version, replace, where)
    manifest, raw = read_manifest(store, name, info.version)
    digests = release_digests(manifest, raw)
    _check_listing(store, name, info.version, digests, where)
    if check_files:
        _check_store_bytes(store, name, info.version, manifest, where)
    data = signer.sign(info.tag, digests)
    store.write_record(name, info.version, SIGNATURE_FILE, data)
    return SignResult(name, info.version, signer.description, len(signed_files(digests)))


def attach_signature(
    store: Store, name: str, version: str, data: bytes, *, replace: bool = False
) -> tuple[Statement, str]:
    """Attach a model.sig made elsewhere (e.g. by model_signing over a downloaded release).

    Its statement must cover exactly the release's files; whether its signer is trusted is
    for each consumer's trust policy to say. Returns the statement and the key hint.
    """
    info = release_info(store, name, version)
    where = f"{name} {info.tag} in {store.url}"
    _refuse_resign(store, name, info.version, replace, where)
    bundle = parse_bundle(data, where=f"the signature for {where}")
    if bundle.payload_type != PAYLOAD_TYPE:
        raise SignatureInvalidError(f"the signature for {where} does not sign an in-toto statement")
    statement = parse_statement(bundle.payload, where=f"the signature for {where}")
    manifest, raw = read_manifest(store, name, info.version)
    compare_files(
        statement,
        release_digests(manifest, raw),
        where=where,
        listing=set(store.files(name, info.version)),
    )
    store.write_record(name, info.version, SIGNATURE_FILE, data)
    return statement, bundle.key_hint or ("keyless" if bundle.keyless else "unknown")


def _refuse_resign(store: Store, name: str, version: str, replace: bool, where: str) -> None:
    if not replace and store.read_record(name, version, SIGNATURE_FILE) is not None:
        raise ReleaseExistsError(
            f"{where} is already signed",
            "pass --replace to sign it again (e.g. after rotating the signing key)",
        )


def _check_listing(
    store: Store, name: str, version: str, digests: dict[str, str], where: str
) -> None:
    listing = set(store.files(name, version))
    extra, missing = sorted(listing - set(digests)), sorted(set(digests) - listing)
    if extra or missing:
        raise IntegrityError(
            f"{where} does not hold exactly the files its MANIFEST lists; not signing it",
            problems=[f"not in MANIFEST: {p}" for p in extra] + [f"missing: {p}" for p in missing],
        )


def _check_store_bytes(
    store: Store, name: str, version: str, manifest: Manifest, where: str
) -> None:
    """Stream every release file from the store and hash it (threads: hashlib drops the GIL)."""

    rels = sorted(manifest.files)
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(rels)))) as pool:
        digests = pool.map(lambda rel: stored_sha256(store, name, version, rel), rels)
        found = dict(zip(rels, digests, strict=True))
    bad = [rel for rel in rels if found[rel] != manifest.files[rel]]
    if bad:
        raise IntegrityError(
            f"{where}: {_few(bad)} no longer match(es) the MANIFEST; not signing it",
            "the store's copy is corrupt or was tampered with: re-publish under a new version",
            problems=[f"mismatch: {rel}" for rel in bad],
        )
