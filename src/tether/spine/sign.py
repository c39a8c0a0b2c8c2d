"""Signing releases in a store: model.sig goes into the release's record; its files never change.

tether.signing does the cryptography over a listing {path: sha256} and no I/O; this module
reads the store (the MANIFEST, the listing, optionally every byte) and writes the record.
tether.signing (the ``tether[sign]`` extra) is imported only when a key is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tether.errors import IntegrityError, ReleaseExistsError, TetherError
from tether.manifest import Manifest
from tether.names import SIGNATURE_FILE
from tether.project import Project
from tether.spine.catalog import read_manifest, release_digests, release_info, require_usable
from tether.spine.trust import signing_extra
from tether.stores.base import Store, stored_sha256
from tether.versioning import normalize_version, release_tag

if TYPE_CHECKING:
    from tether.signing import Signer, Statement


@dataclass(frozen=True)
class SignResult:
    name: str
    version: str
    signer: str
    files: int

    @property
    def tag(self) -> str:
        return release_tag(self.version)


@dataclass(frozen=True)
class KeyFiles:
    """A key pair `tether key generate` wrote."""

    private: Path
    public: Path
    key_id: str


# --- keys and signers ---------------------------------------------------------------------


def load_signer(
    spec: str, *, password: str | None = None, identity_token: str | None = None
) -> Signer:
    """``sigstore`` for keyless signing; else a PEM private key file, or its PEM text."""
    return signing_extra().load_signer(spec, password=password, identity_token=identity_token)


def generate_signing_key(
    prefix: Path, *, curve: str = "p256", password: str | None = None
) -> KeyFiles:
    """Write PREFIX.key (private, mode 600, encrypted with ``password`` when given) and
    PREFIX.pub; never overwrites."""
    prefix = Path(prefix)
    private, public = (prefix.with_name(prefix.name + suffix) for suffix in (".key", ".pub"))
    key = signing_extra().generate_key(private, public, curve=curve, password=password)
    return KeyFiles(private, public, key.id)


# --- signing a release in a store ---------------------------------------------------------


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
    signed = signing_extra().signed_files(digests)
    return SignResult(name, info.version, signer.description, len(signed))


def attach_signature(
    store: Store, name: str, version: str, data: bytes, *, replace: bool = False
) -> tuple[Statement, str]:
    """Attach a model.sig made elsewhere (e.g. by model_signing over a downloaded release).

    Its statement must cover exactly the release's files; whether its signer is trusted is
    for each consumer's trust policy to say. Returns the statement and the key hint.
    """
    signing = signing_extra()
    info = release_info(store, name, version)
    where = f"{name} {info.tag} in {store.url}"
    _refuse_resign(store, name, info.version, replace, where)
    statement, hint = signing.read_claim(data, where=f"the signature for {where}")
    manifest, raw = read_manifest(store, name, info.version)
    signing.compare_files(
        statement,
        release_digests(manifest, raw),
        where=where,
        listing=set(store.files(name, info.version)),
    )
    store.write_record(name, info.version, SIGNATURE_FILE, data)
    return statement, hint


def sign_version(
    project_dir: Path | str,
    version: str,
    *,
    signing_key: str | None = None,
    sigstore: bool = False,
    attach: Path | None = None,
    replace: bool = False,
    password: str | None = None,
    identity_token: str | None = None,
    store: str | None = None,
    name: str | None = None,
) -> SignResult:
    """`tether sign`: sign release ``version`` of the project's model with ``signing_key``
    (a PEM file or text) or keylessly (``sigstore``), or ``attach`` a model.sig made
    elsewhere.

    ``sigstore`` wins over a ``signing_key`` (one that came from the environment); an
    attached signature is reported as signed by its key hint.
    """
    chosen = [attach is not None, sigstore, bool(signing_key) and not sigstore and not attach]
    if sum(chosen) != 1:
        raise TetherError(
            "give one of --signing-key KEY, --sigstore or --attach FILE",
            f"e.g. tether sign {version} --signing-key tether-signing.key",
        )
    project = Project.load(project_dir)
    opened = project.open_store(store)
    name = project.release_name(name, opened)
    if attach is not None:
        statement, hint = attach_signature(
            opened, name, version, Path(attach).read_bytes(), replace=replace
        )
        signed = len(statement.paths)
        return SignResult(name, normalize_version(version), f"key {hint[:16]}", signed)
    if sigstore:
        signer: Signer = signing_extra().SigstoreSigner(identity_token=identity_token)
    else:
        assert signing_key is not None
        signer = load_signer(signing_key, password=password, identity_token=identity_token)
    return sign_release(opened, name, version, signer, replace=replace)


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
    from concurrent.futures import ThreadPoolExecutor  # only `tether sign` re-hashes a store

    rels = sorted(manifest.files)
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(rels)))) as pool:
        digests = pool.map(lambda rel: stored_sha256(store, name, version, rel), rels)
        found = dict(zip(rels, digests, strict=True))
    bad = [rel for rel in rels if found[rel] != manifest.files[rel]]
    if bad:
        raise IntegrityError(
            f"{where}: {len(bad)} file(s) no longer match the MANIFEST; not signing it",
            "the store's copy is corrupt or was tampered with: re-publish under a new version",
            problems=[f"mismatch: {rel}" for rel in bad],
        )
