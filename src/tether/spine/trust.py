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
added or removed after signing; ``warn`` logs the same and goes on; ``off`` skips.

Rollback protection (the TUF rollback attack): with a policy, each dest root remembers the
highest version it verified per name (``<dest>/.<name>.verified.json``). A fetch of a
lower version is refused unless the pin was lowered on purpose: ``tether pin --previous``
or ``tether pin VERSION --allow-downgrade`` write ``.model-downgrade.json`` beside
.model-version (commit both), which allows exactly that version.

This module is light on purpose (fetch and pin import it); the cryptography lives in
tether.signing and is imported only when a signature is checked.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.atomic import write_atomic
from tether.errors import (
    ConfigError,
    ManifestError,
    MissingDependencyError,
    RollbackError,
    SignatureError,
    UnsignedReleaseError,
)
from tether.names import DOWNGRADE_FILE, MANIFEST_FILE, SIGNATURE_FILE
from tether.versioning import normalize_version, parse_version, release_tag

if TYPE_CHECKING:
    from types import ModuleType

    from tether.prepared import Prepared
    from tether.signing import Identity, TrustedKey, Verified
    from tether.stores.base import Store

log = logging.getLogger(__name__)

TRUST_TABLE = "trust"
MODES = ("require", "warn", "off")


def _signing() -> ModuleType:
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


def load_trust(project_dir: Path | str) -> TrustPolicy | None:
    """The project's trust policy, or None when its recipe has no [trust] table."""
    from tether.project import read_settings

    settings, path = read_settings(Path(project_dir))
    table = settings.get(TRUST_TABLE)
    if table is None:
        return None
    where = f"{path}: [{TRUST_TABLE}]" if path else f"[{TRUST_TABLE}]"
    base = path.parent if path else Path(project_dir)
    return parse_trust(table, base_dir=base, project_dir=Path(project_dir), where=where)


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
    keys = _Lazy(lambda: tuple(_load_key(_signing(), spec, base_dir, where) for spec in key_specs))
    identities = _Lazy(
        lambda: tuple(_signing().Identity(i["identity"], i["issuer"]) for i in id_specs)
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
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read key {spec} ({exc.strerror})") from None
    return signing.load_public_key(data, where=spec)


def keys_policy(key_files: list[Path] | tuple[Path, ...]) -> TrustPolicy:
    """A require policy trusting exactly these public key files (``--key`` options)."""
    signing = _signing()
    keys = []
    for path in key_files:
        try:
            keys.append(signing.load_public_key(Path(path).read_bytes(), where=str(path)))
        except OSError as exc:
            raise ConfigError(f"cannot read key {path} ({exc.strerror})") from None
    return TrustPolicy("require", tuple(keys), source="--key")


def signature_policy(project_dir: Path, key_files: list[Path] | tuple[Path, ...]) -> TrustPolicy:
    """What `tether verify --signature` checks against: --key files, else the project's
    [trust]; always as ``require`` (asking for the check means wanting its answer)."""
    if key_files:
        return keys_policy(key_files)
    policy = load_trust(project_dir)
    if policy is None or not (policy.keys or policy.identities):
        raise ConfigError(
            "no trusted keys to check the signature against",
            "pass --key PUBLIC_KEY.pem, or add [trust] keys to the project's tether.toml",
        )
    return replace(policy, mode="require")


# --- fetch: check before activation -------------------------------------------------------


@dataclass
class TrustVerdict:
    """The outcome of checking a release before fetch activates it."""

    name: str
    version: str
    policy: TrustPolicy | None = None
    signature: bytes | None = None  # model.sig, set only when it verified
    signer: str | None = None
    downgrade_allowed: bool = False
    problems: list[str] = field(default_factory=list)


def check_release(
    store: Store,
    name: str,
    version: str,
    manifest_raw: bytes,
    listing: dict[str, int] | set[str],
    policy: TrustPolicy | None,
    dest_root: Path,
) -> TrustVerdict:
    """Verify the release's model.sig against ``policy``, then the rollback rule.

    Call before anything is written: the signed statement must equal the MANIFEST (whose
    raw bytes are given) and the store's listing, so that checking each downloaded file
    against the MANIFEST afterwards proves it was signed.
    """
    verdict = TrustVerdict(name, normalize_version(version), policy)
    if policy is None or not policy.active:
        return verdict
    where = f"{name} {release_tag(version)} in {store.url}"
    try:
        data = store.read_record(name, verdict.version, SIGNATURE_FILE)
        if data is None:
            raise UnsignedReleaseError(f"{where} is not signed (it has no {SIGNATURE_FILE})")
        verified = _verify_against_manifest(data, manifest_raw, policy, where, set(listing))
        verdict.signature, verdict.signer = data, verified.signer
    except SignatureError as exc:
        verdict.problems.append(exc.message)
        policy.refuse_or_warn(exc)
    _check_rollback(verdict, policy, Path(dest_root))
    return verdict


def _verify_against_manifest(
    data: bytes, manifest_raw: bytes, policy: TrustPolicy, where: str, listing: set[str] | None
) -> Verified:
    from tether.manifest import parse_manifest

    signing = _signing()
    verified = signing.verify_signature(
        data, keys=policy.keys, identities=policy.identities, where=where
    )
    try:
        manifest = parse_manifest(manifest_raw.decode("utf-8"), where=f"{where} MANIFEST.txt")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{where} MANIFEST.txt is not UTF-8 text") from exc
    signing.compare_files(
        verified.statement,
        signing.release_digests(manifest, manifest_raw),
        where=where,
        listing=listing,
    )
    return verified


def stage_signature(verdict: TrustVerdict | None, temp: Path) -> dict[str, Path]:
    """Write a verified model.sig to ``temp``; {name: temp} for fetch's set of temps."""
    if verdict is None or verdict.signature is None:
        return {}
    with open(temp, "wb") as handle:
        handle.write(verdict.signature)
        handle.flush()
        os.fsync(handle.fileno())
    return {SIGNATURE_FILE: temp}


def raise_if_signed(verdict: TrustVerdict | None, rel: str | None, error: Exception) -> None:
    """A download of a signed release that does not match its (signed) MANIFEST: raise it
    as a change after signing. Returns when the release was not verified as signed."""
    if verdict is None or verdict.signature is None or rel is None:
        return
    from tether.errors import SignedFileChangedError

    raise SignedFileChangedError(
        f"{rel} of {verdict.name} {release_tag(verdict.version)} changed after signing "
        "(its bytes differ from the signed digest); nothing was activated",
        problems=[f"changed after signing: {rel}"],
    ) from error


def copy_signature(store: Store, name: str, version: str, folder: Path) -> bool:
    """Put the release's model.sig (unchecked: a download is checked by whoever uses it)
    into ``folder``; True when the release has one."""
    data = store.read_record(name, normalize_version(version), SIGNATURE_FILE)
    if data is None:
        return False
    write_atomic(Path(folder) / SIGNATURE_FILE, data)
    return True


def prepared_needs_refetch(folder: Path, policy: TrustPolicy | None) -> bool:
    """A folder prepared before signatures were required holds no model.sig: re-check it."""
    return policy is not None and policy.required and not (folder / SIGNATURE_FILE).is_file()


# --- rollback protection ------------------------------------------------------------------


def rollback_state_path(dest_root: Path, name: str) -> Path:
    return Path(dest_root) / f".{name}.verified.json"


def highest_verified(dest_root: Path, name: str) -> str | None:
    """The highest version of ``name`` this dest root has verified, if any."""
    path = rollback_state_path(dest_root, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return normalize_version(str(data["highest"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        # A damaged state must not silently disable the protection.
        raise ManifestError(
            f"{path} is malformed ({exc})",
            "delete it only if you know no downgrade happened; the next fetch rewrites it",
        ) from None


def _check_rollback(verdict: TrustVerdict, policy: TrustPolicy, dest_root: Path) -> None:
    highest = highest_verified(dest_root, verdict.name)
    if highest is None or parse_version(verdict.version) >= parse_version(highest):
        return
    record = read_downgrade(policy.project_dir) if policy.project_dir else None
    if (
        record is not None
        and record.get("to") == verdict.version
        and record.get("name") in (None, verdict.name)
    ):
        verdict.downgrade_allowed = True
        log.info(
            "deliberate downgrade of %s to %s (recorded in %s)",
            verdict.name,
            release_tag(verdict.version),
            DOWNGRADE_FILE,
        )
        return
    error = RollbackError(
        f"refusing {verdict.name} {release_tag(verdict.version)}: {dest_root} already verified "
        f"{release_tag(highest)}, and the pin was not lowered on purpose"
    )
    verdict.problems.append(error.message)
    policy.refuse_or_warn(error)


def record_verified(verdict: TrustVerdict | None, dest_root: Path) -> None:
    """After activation: remember the version as verified (lowered only by a deliberate pin)."""
    if verdict is None or verdict.signature is None:
        return
    highest = highest_verified(dest_root, verdict.name)
    if (
        highest is not None
        and not verdict.downgrade_allowed
        and parse_version(highest) >= parse_version(verdict.version)
    ):
        return
    data = {
        "schema": 1,
        "name": verdict.name,
        "highest": verdict.version,
        "signer": verdict.signer,
        "at": _now(),
    }
    if verdict.downgrade_allowed and highest is not None:
        data["lowered_from"] = highest
    write_atomic(
        rollback_state_path(dest_root, verdict.name), (json.dumps(data, indent=2) + "\n").encode()
    )


# --- deliberate downgrades (written by tether pin) ----------------------------------------


def read_downgrade(project_dir: Path) -> dict[str, Any] | None:
    path = Path(project_dir) / DOWNGRADE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ManifestError(
            f"{path} is not JSON ({exc})", "re-pin: tether pin --previous"
        ) from None
    return data if isinstance(data, dict) else None


def note_pin_change(project_dir: Path, name: str, new: str, *, deliberate: bool) -> None:
    """Called by tether pin before it writes ``new`` into .model-version.

    Lowering the pin on purpose records the downgrade (fetch then allows that version);
    lowering it otherwise is refused when the project's policy requires signatures. Any
    other pin change clears a stale record.
    """
    from tether.errors import PinNotFoundError
    from tether.spine.pin import read_pin

    try:
        old = read_pin(project_dir)
    except PinNotFoundError:  # a malformed pin is being replaced: nothing to compare
        old = None
    path = Path(project_dir) / DOWNGRADE_FILE
    new = normalize_version(new)
    if old is None or parse_version(new) >= parse_version(old):
        record = read_downgrade(project_dir)
        if record is not None and record.get("to") != new:
            path.unlink(missing_ok=True)
        return
    if deliberate:
        data = {"schema": 1, "name": name, "from": old, "to": new, "at": _now()}
        write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())
        return
    policy = load_trust(project_dir)
    if policy is None or not policy.active:
        return
    policy.refuse_or_warn(
        RollbackError(
            f"lowering the pin of {name} from {release_tag(old)} to {release_tag(new)} "
            "while rollback protection is on",
            "do it on purpose: tether pin VERSION --allow-downgrade (or tether pin --previous)",
        )
    )


# --- verify and audit ---------------------------------------------------------------------


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


def verify_signed(folder: Path, policy: TrustPolicy) -> str:
    """`tether verify --signature`: a profile folder (re-hash + signature) or any folder
    signed with OMS (a downloaded release, or one model_signing signed). Returns a summary."""
    from tether.prepared import PREPARED_FILE
    from tether.spine.verify import verify_profile

    folder = Path(folder)
    if (folder / PREPARED_FILE).is_file():
        prepared = verify_profile(folder)
        verified = check_profile_signature(folder, prepared, replace(policy, mode="require"))
        assert verified is not None  # require raises instead
        return (
            f"{folder}: {len(prepared.files)} files of {prepared.release} verified, "
            f"signed by {verified.signer}"
        )
    verified, count = _signing().verify_folder(
        folder, keys=policy.keys, identities=policy.identities
    )
    return f"{folder}: {count} files verified against {SIGNATURE_FILE}, signed by {verified.signer}"


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


def _now() -> str:
    return datetime.now(tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
