"""Trust policy: who may sign the releases a project uses, and what happens when they did not.

The policy lives in the consuming project's recipe (``tether.toml``, or ``[tool.tether]``
in pyproject.toml), in a ``[trust]`` table::

    [trust]
    policy = "require"                 # require (default) | warn | off
    keys = ["keys/release.pub"]        # PEM public keys: files relative to the recipe, or text
    identities = [                     # keyless Sigstore signers (verification needs network)
      { identity = "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main",
        issuer = "https://token.actions.githubusercontent.com" },
    ]

Without a ``[trust]`` table nothing is checked (as before signing existed). With one,
``tether fetch`` checks the release's model.sig before anything is activated: ``require``
refuses an unsigned release, an unknown signer, an invalid signature and any file changed,
added or removed after signing; ``warn`` logs the same and goes on; ``off`` skips. It also
refuses a rollback to a version below one the dest root verified (tether.spine.rollback).

Fetch asks all of this through one ``FetchGuard`` (``fetch_guard``): the plain guard of a
project without [trust] checks nothing; a ``TrustGuard`` applies the policy.

This module is light on purpose (a no-op fetch with [trust] imports it); the cryptography
lives in tether.signing and is imported only when a signature is checked (``signing_extra``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.errors import (
    ConfigError,
    ManifestError,
    MissingDependencyError,
    RollbackError,
    SignatureError,
    SignedFileChangedError,
    UnsignedReleaseError,
)
from tether.hashing import CHUNK_SIZE
from tether.manifest import parse_manifest
from tether.names import MANIFEST_FILE, SIGNATURE_FILE, TRUST_TABLE
from tether.project import Project
from tether.spine.catalog import release_digests
from tether.spine.rollback import Downgrade, check_rollback, record_verified
from tether.versioning import normalize_version, release_tag

if TYPE_CHECKING:
    from types import ModuleType

    from tether.prepared import Prepared
    from tether.signing import Identity, TrustedKey, Verified
    from tether.stores.base import Store

log = logging.getLogger(__name__)

MODES = ("require", "warn", "off")


def signing_extra() -> ModuleType:
    """tether.signing, or a clear error when its extra is not installed."""
    try:
        import tether.signing as signing
    except ImportError as exc:
        raise MissingDependencyError(
            f"checking signatures needs the signing extra ({exc.name} is not installed)",
            "pip install 'tether[sign]'",
        ) from None
    return signing


# --- the policy ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustPolicy:
    """Who may sign, and whether a failed check refuses (require), logs (warn) or is skipped."""

    mode: str = "require"
    keys: Sequence[TrustedKey] = ()
    identities: Sequence[Identity] = ()
    project_dir: Path | None = None  # where a deliberate downgrade is recorded
    source: str = "[trust]"

    @property
    def active(self) -> bool:
        return self.mode != "off"

    @property
    def required(self) -> bool:
        return self.mode == "require"

    def refuse_or_warn(self, error: SignatureError) -> None:
        """Raise under ``require``; log under ``warn``."""
        if self.required:
            raise error
        log.warning("%s (trust policy %s: going on)", error.one_line(), self.mode)


def load_trust(project: Project | Path | str) -> TrustPolicy | None:
    """The project's trust policy, or None when its recipe has no [trust] table.

    ``project``: a loaded Project (its recipe is not read again), or the project's folder.
    """
    if not isinstance(project, Project):
        project = Project.load(project)
    table = project.table(TRUST_TABLE)
    if table is None:
        return None
    where = f"{project.settings_file}: [{TRUST_TABLE}]"
    return parse_trust(table, base_dir=project.settings_dir, project_dir=project.dir, where=where)


def parse_trust(
    table: Any, *, base_dir: Path, project_dir: Path | None = None, where: str = "[trust]"
) -> TrustPolicy:
    """Validate a [trust] table; key files are read relative to ``base_dir``."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - {"policy", "keys", "identities"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    mode = table.get("policy", "require")
    if mode not in MODES:
        raise ConfigError(f"{where}: policy must be one of {', '.join(MODES)}, not {mode!r}")
    key_specs = table.get("keys", [])
    id_specs = table.get("identities", [])
    if not isinstance(key_specs, list) or not all(isinstance(k, str) for k in key_specs):
        raise ConfigError(f"{where}: keys must be a list of PEM file paths or PEM texts")
    if not isinstance(id_specs, list):
        raise ConfigError(f"{where}: identities must be a list of {{identity, issuer}} tables")
    if mode == "off":  # nothing is checked, so nothing needs loading (or cryptography)
        return TrustPolicy(mode, project_dir=project_dir, source=where)
    if not key_specs and not id_specs:
        raise ConfigError(
            f"{where} names no keys or identities, so no release could pass",
            'add keys = ["path/to/release.pub"] (see: tether key generate), or policy = "off"',
        )
    for spec in id_specs:
        if (
            not isinstance(spec, dict)
            or set(spec) != {"identity", "issuer"}
            or not all(isinstance(v, str) and v for v in spec.values())
        ):
            raise ConfigError(f"{where}: each identity is {{identity = ..., issuer = ...}}")
    # Keys load (and cryptography imports) on first use: a no-op fetch checks nothing.
    keys = _Lazy(lambda: tuple(_load_key(signing_extra(), s, base_dir, where) for s in key_specs))
    identities = _Lazy(
        lambda: tuple(signing_extra().Identity(i["identity"], i["issuer"]) for i in id_specs)
    )
    return TrustPolicy(mode, keys, identities, project_dir, where)


class _Lazy(Sequence[Any]):
    """A tuple computed on first use."""

    def __init__(self, load: Callable[[], tuple[Any, ...]]) -> None:
        self._load = load
        self._items: tuple[Any, ...] | None = None

    def _get(self) -> tuple[Any, ...]:
        if self._items is None:
            self._items = self._load()
        return self._items

    def __getitem__(self, index: Any) -> Any:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())


def _load_key(signing: ModuleType, spec: str, base_dir: Path, where: str) -> TrustedKey:
    if spec.lstrip().startswith("-----BEGIN"):
        return signing.load_public_key(spec.strip().encode() + b"\n", where=f"{where} inline key")
    path = (base_dir / spec).expanduser()
    try:
        data = path.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte (tests/test_parsers_fuzz.py)
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"{where}: cannot read key {spec} ({reason})") from None
    return signing.load_public_key(data, where=spec)


def keys_policy(key_files: list[Path] | tuple[Path, ...]) -> TrustPolicy:
    """A require policy trusting exactly these public key files (``--trusted-key`` options)."""
    signing = signing_extra()
    keys = []
    for path in key_files:
        try:
            keys.append(signing.load_public_key(Path(path).read_bytes(), where=str(path)))
        except OSError as exc:
            raise ConfigError(f"cannot read key {path} ({exc.strerror})") from None
    return TrustPolicy("require", tuple(keys), source="--trusted-key")


def signature_policy(
    project: Project | Path | str, key_files: list[Path] | tuple[Path, ...]
) -> TrustPolicy:
    """What `tether verify --signature` checks against: --trusted-key files, else the project's
    [trust]; always as ``require`` (asking for the check means wanting its answer)."""
    if key_files:
        return keys_policy(key_files)
    policy = load_trust(project)
    if policy is None or not (policy.keys or policy.identities):
        raise ConfigError(
            "no trusted keys to check the signature against",
            "pass --trusted-key PUBLIC_KEY.pem, or add [trust] keys to the project's tether.toml",
        )
    return replace(policy, mode="require")


def refuse_lowered_pin(project: Project | Path | str, name: str, old: str, new: str) -> None:
    """`tether pin` lowering the pin without --allow-downgrade while rollback protection is
    on: refused under require, logged under warn (tests/spine/test_trust.py)."""
    policy = load_trust(project)
    if policy is None or not policy.active:
        return
    policy.refuse_or_warn(
        RollbackError(
            f"lowering the pin of {name} from {release_tag(old)} to {release_tag(new)} "
            "while rollback protection is on",
            "do it on purpose: tether pin VERSION --allow-downgrade (or tether pin --previous)",
        )
    )


# --- fetch: one guard around its transaction ----------------------------------------------


@dataclass
class TrustVerdict:
    """The outcome of checking a release before fetch activates it."""

    name: str
    version: str
    signature: bytes | None = None  # model.sig, set only when it verified
    signer: str | None = None
    downgrade: Downgrade | None = None  # the deliberate step this fetch takes, if it lowers
    problems: list[str] = field(default_factory=list)

    @property
    def downgrade_allowed(self) -> bool:
        return self.downgrade is not None


@dataclass(frozen=True)
class FetchGuard:
    """What fetch asks at each step of its transaction into ``dest_root``.

    This guard (a project without [trust], or policy "off") checks nothing: its verdicts
    carry no signature, so nothing is staged, mapped or recorded. TrustGuard checks.
    """

    dest_root: Path

    def accepts_prepared(self, folder: Path) -> bool:
        """Whether a folder already prepared for the pin may stay as it is (the no-op)."""
        return True

    def check_release(
        self,
        store: Store,
        name: str,
        version: str,
        manifest_raw: bytes,
        listing: dict[str, int] | set[str],
    ) -> TrustVerdict:
        """Before anything is written: the release's signature, then the rollback rule."""
        return TrustVerdict(name, normalize_version(version))

    def signed_files(self, verdict: TrustVerdict) -> dict[str, bytes]:
        """Files to activate beside the release's: model.sig, when it verified."""
        return {} if verdict.signature is None else {SIGNATURE_FILE: verdict.signature}

    def raise_if_signed(self, verdict: TrustVerdict, rel: str | None, error: Exception) -> None:
        """A downloaded file of a signed release that does not match its (signed) MANIFEST
        was changed after signing: raise that instead. Returns for an unsigned one."""
        if verdict.signature is None or rel is None:
            return
        raise SignedFileChangedError(
            f"{rel} of {verdict.name} {release_tag(verdict.version)} changed after signing "
            "(its bytes differ from the signed digest); nothing was activated",
            problems=[f"changed after signing: {rel}"],
        ) from error

    def activated(self, verdict: TrustVerdict) -> None:
        """After activation: remember a verified version (rollback protection)."""
        if verdict.signature is None:
            return
        record_verified(
            self.dest_root,
            verdict.name,
            verdict.version,
            signer=verdict.signer,
            downgrade=verdict.downgrade,
        )


@dataclass(frozen=True)
class TrustGuard(FetchGuard):
    """The guard of an active [trust] policy: signatures and rollback protection."""

    policy: TrustPolicy

    def accepts_prepared(self, folder: Path) -> bool:
        # a folder prepared before signatures were required holds no model.sig: re-check it
        return not self.policy.required or (folder / SIGNATURE_FILE).is_file()

    def check_release(
        self,
        store: Store,
        name: str,
        version: str,
        manifest_raw: bytes,
        listing: dict[str, int] | set[str],
    ) -> TrustVerdict:
        """The signed statement must equal the MANIFEST (whose raw bytes are given) and the
        store's listing, so that checking each downloaded file against the MANIFEST
        afterwards proves it was signed."""
        verdict = TrustVerdict(name, normalize_version(version))
        where = f"{name} {release_tag(version)} in {store.url}"
        try:
            data = store.read_record(name, verdict.version, SIGNATURE_FILE)
            if data is None:
                raise UnsignedReleaseError(f"{where} is not signed (it has no {SIGNATURE_FILE})")
            verified = _verify_against_manifest(data, manifest_raw, self.policy, where, listing)
            verdict.signature, verdict.signer = data, verified.signer
        except SignatureError as exc:
            verdict.problems.append(exc.message)
            self.policy.refuse_or_warn(exc)
        try:
            verdict.downgrade = check_rollback(
                self.dest_root, name, verdict.version, self.policy.project_dir
            )
        except RollbackError as exc:
            verdict.problems.append(exc.message)
            self.policy.refuse_or_warn(exc)
        return verdict


def fetch_guard(policy: TrustPolicy | None, dest_root: Path) -> FetchGuard:
    """The guard for a fetch into ``dest_root`` under ``policy`` (None: no [trust] table)."""
    if policy is None or not policy.active:
        return FetchGuard(Path(dest_root))
    return TrustGuard(Path(dest_root), policy)


def _verify_against_manifest(
    data: bytes,
    manifest_raw: bytes,
    policy: TrustPolicy,
    where: str,
    listing: dict[str, int] | set[str] | None,
) -> Verified:
    signing = signing_extra()
    verified = signing.verify_signature(
        data, keys=policy.keys, identities=policy.identities, where=where
    )
    try:
        manifest = parse_manifest(manifest_raw.decode("utf-8"), where=f"{where} {MANIFEST_FILE}")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{where} {MANIFEST_FILE} is not UTF-8 text") from exc
    signing.compare_files(
        verified.statement,
        release_digests(manifest, manifest_raw),
        where=where,
        listing=None if listing is None else set(listing),
    )
    return verified


# --- verify and audit ---------------------------------------------------------------------


def folder_shards(folder: Path) -> Callable[[str, int], tuple[tuple[int, int, str], ...]]:
    """For a ``shards`` signature (model_signing's): a file of ``folder`` cut into slices of
    the shard size from byte 0, the last one shorter, each with its sha256."""

    def shards(rel: str, shard_size: int) -> tuple[tuple[int, int, str], ...]:
        cuts = []
        with open(Path(folder) / rel, "rb") as handle:
            total = os.fstat(handle.fileno()).st_size
            for start in range(0, total, shard_size):
                end = min(start + shard_size, total)
                hasher, left = hashlib.sha256(), end - start
                while left and (chunk := handle.read(min(CHUNK_SIZE, left))):
                    hasher.update(chunk)
                    left -= len(chunk)
                cuts.append((start, end, hasher.hexdigest()))
        return tuple(cuts)

    return shards


def check_profile_signature(
    folder: Path, prepared: Prepared, policy: TrustPolicy
) -> Verified | None:
    """A prepared profile folder's model.sig against its MANIFEST.txt (whose files
    verify_profile has just re-hashed): proves every file in the folder was signed.

    Under ``warn`` a failure is logged and None returned."""
    folder = Path(folder)
    where = f"{folder} ({prepared.release})"
    try:
        try:
            data = (folder / SIGNATURE_FILE).read_bytes()
        except FileNotFoundError:
            raise UnsignedReleaseError(
                f"{folder} holds no {SIGNATURE_FILE}",
                "re-fetch it with a [trust] policy (tether fetch), or the release is unsigned",
            ) from None
        manifest_raw = (folder / MANIFEST_FILE).read_bytes()
        return _verify_against_manifest(data, manifest_raw, policy, where, listing=None)
    except SignatureError as exc:
        policy.refuse_or_warn(exc)
        return None


def audit_signature(
    store: Store, name: str, version: str, manifest_raw: bytes, policy: TrustPolicy
) -> tuple[bool, str]:
    """One audit line: is the pinned release signed by someone the policy trusts?"""
    if not policy.active:
        return True, "signature: not checked (trust policy off)"
    where = f"{name} {release_tag(version)}"
    try:
        data = store.read_record(name, version, SIGNATURE_FILE)
        if data is None:
            raise UnsignedReleaseError(f"{where} is not signed")
        listing = set(store.files(name, version))
        verified = _verify_against_manifest(data, manifest_raw, policy, where, listing)
    except SignatureError as exc:
        suffix = "" if policy.required else f" (policy {policy.mode})"
        return not policy.required, f"signature: {exc.message}{suffix}"
    return True, f"signature: {where} signed by {verified.signer}"
