"""Verify a profile folder by re-hashing (its signature too, on request), and audit the
chain pin -> release -> folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tether.errors import IntegrityError, ProfileNotFoundError, TetherError, UnsignedReleaseError
from tether.hashing import list_files, sha256_bytes, sha256_file, sha256_files
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest
from tether.names import DEFAULT_PROFILES_DIR, SIGNATURE_FILE
from tether.paths import reserved_reason
from tether.prepared import PREPARED_FILE, Prepared, read_prepared
from tether.project import Project
from tether.spine.catalog import read_manifest, release_info
from tether.spine.pin import read_pin, read_pins
from tether.spine.states import WITHDRAWN
from tether.spine.trust import (
    TrustPolicy,
    audit_signature,
    check_profile_signature,
    folder_shards,
    load_trust,
    signature_policy,
    signing_extra,
)
from tether.stores.base import Store
from tether.versioning import release_tag

if TYPE_CHECKING:
    from tether.signing import Identity, TrustedKey, Verified


def verify_profile(folder: Path, *, signature: TrustPolicy | None = None) -> Prepared:
    """Re-hash every file of a prepared folder against .prepared.json and MANIFEST.txt.

    Raises IntegrityError listing each missing, extra, empty or mismatched file. With a
    ``signature`` policy, model.sig must also vouch for MANIFEST.txt (tether.spine.trust).
    """
    folder = Path(folder)
    prepared = read_prepared(folder)
    if prepared is None:
        raise ProfileNotFoundError(f"{folder} holds no {PREPARED_FILE}")
    problems: list[str] = []
    manifest_path = folder / MANIFEST_FILE
    manifest_files: dict[str, str] = {}
    if not manifest_path.is_file():
        problems.append(f"missing: {MANIFEST_FILE}")
    elif sha256_file(manifest_path) != prepared.manifest_sha256:
        problems.append(f"mismatch: {MANIFEST_FILE} differs from the one fetched")
    else:
        manifest_files = parse_manifest(manifest_path.read_bytes()).files

    files, links = _entries(folder)
    present = [rel for rel in prepared.files if rel in files]
    digests = sha256_files([folder / rel for rel in present])
    for rel, entry in sorted(prepared.files.items()):
        path = folder / rel
        if rel in links:
            problems.append(f"link: {rel} (a profile folder holds plain files)")
        elif rel not in present:
            problems.append(f"missing: {rel}")
        elif path.stat().st_size == 0 and entry.size != 0:
            problems.append(f"empty: {rel}")
        elif digests[path] != entry.sha256:
            problems.append(f"mismatch: {rel} (sha256 {digests[path][:12]}...)")
        elif manifest_files and manifest_files.get(rel) != entry.sha256:
            problems.append(f"mismatch: {rel} is not the file MANIFEST.txt lists")
    expected = set(prepared.files) | {MANIFEST_FILE, PREPARED_FILE, SIGNATURE_FILE}
    problems += [f"extra: {rel}" for rel in sorted(files) if rel not in expected]
    problems += [f"link: {rel}" for rel in sorted(links) if rel not in prepared.files]
    if problems:
        raise IntegrityError(
            f"{folder} does not verify against {prepared.release} ({len(problems)} problem(s))",
            repair_hint(folder),
            problems=problems,
        )
    if signature is not None and signature.active:
        check_profile_signature(folder, prepared, signature)
    return prepared


def _entries(folder: Path) -> tuple[set[str], set[str]]:
    """(regular files, links) below ``folder``, links not followed. Names no release can
    have (tether.paths.reserved_reason: its state folder, downloads in progress, a dead
    fetch's temp files) are tether's own leftovers and skipped
    (tests/spine/test_kill_fetch.py)."""
    files, links = set(), set()
    for root, dirs, names in os.walk(folder):
        for entry in (*dirs, *names):
            path = Path(root, entry)
            rel = path.relative_to(folder).as_posix()
            if reserved_reason(rel) is not None:
                continue
            if path.is_symlink():
                links.add(rel)
            elif entry in names:
                files.add(rel)
        dirs[:] = [d for d in dirs if reserved_reason(d) is None and not Path(root, d).is_symlink()]
    return files, links


def repair_hint(folder: Path) -> str:
    """The command that repairs ``folder`` (``tether fetch --repair``, with the profiles dir
    when it is not the default one below the current folder)."""
    command = "tether fetch --repair"
    try:
        default = Path(folder).parent.resolve() == (Path.cwd() / DEFAULT_PROFILES_DIR).resolve()
    except OSError:
        default = False
    if not default:
        command += f" --profiles-dir {Path(folder).parent}"
    return f"repair it: {command}"


@dataclass
class AuditReport:
    """Each check as (passed, line); ``ok`` when all passed."""

    checks: list[tuple[bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(passed for passed, _ in self.checks)

    def add(self, passed: bool, line: str) -> bool:
        self.checks.append((passed, line))
        return passed


def audit(
    store: Store,
    name: str,
    pinned: str | None,
    folder: Path,
    *,
    trust: TrustPolicy | None = None,
) -> AuditReport:
    """Walk pin -> release in the store -> its MANIFEST -> the local profile folder."""
    report = AuditReport()
    if not report.add(pinned is not None, f"pin: {pinned or 'no .model-version'}"):
        return report
    tag = release_tag(pinned)
    try:
        info = release_info(store, name, pinned)
        report.add(info.state != WITHDRAWN, f"release: {name} {tag} in {store.url} ({info.state})")
        _, manifest_raw = read_manifest(store, name, pinned)
    except TetherError as exc:
        report.add(False, f"release: {exc.message}")
        return report
    if trust is not None:
        report.add(*audit_signature(store, name, pinned, manifest_raw, trust))
    prepared = None
    try:
        prepared = read_prepared(folder)
    except TetherError as exc:
        report.add(False, f"profile: {exc.message}")
    if prepared is None:
        report.add(False, f"profile: {folder} is not prepared (run tether fetch)")
        return report
    report.add(prepared.release == tag, f"profile: {folder} holds {prepared.release}")
    same = prepared.manifest_sha256 == sha256_bytes(manifest_raw)
    report.add(
        same, f"manifest: the profile's MANIFEST.txt {'is' if same else 'differs from'} the store's"
    )
    try:
        verify_profile(folder)
        report.add(True, f"files: {len(prepared.files)} verified by sha256")
    except IntegrityError as exc:
        report.add(False, f"files: {exc.message}")
        report.checks += [(False, f"  {problem}") for problem in exc.problems]
    return report


def audit_pinned(
    project_dir: Path | str = ".",
    *,
    store: str | None = None,
    name: str | None = None,
    profiles_dir: Path | str = DEFAULT_PROFILES_DIR,
) -> AuditReport:
    """`tether audit`: the project's pin, its release in the store, and ``<profiles_dir>/<name>/``,
    with the signature when the project has a [trust] policy. Without ``name`` in a project
    of named pins: every pinned model, each line led by its name."""
    project = Project.load(project_dir)
    opened = project.open_store(store)
    trust = load_trust(project)
    pins = read_pins(project.dir)
    if name is None and pins is not None and pins.bare is None:
        report = AuditReport()
        for each in pins.names:
            one = audit(
                opened, each, pins.named[each], project.dir / profiles_dir / each, trust=trust
            )
            report.checks += [(passed, f"{each}: {line}") for passed, line in one.checks]
        return report
    name = project.release_name(name, opened)
    folder = project.dir / profiles_dir / name
    return audit(opened, name, read_pin(project.dir, name), folder, trust=trust)


# --- signatures ---------------------------------------------------------------------------


def verify_local(
    folder: Path,
    *,
    signature: bool = False,
    keys: Sequence[Path] = (),
    project_dir: Path | str = ".",
) -> str:
    """`tether verify`: re-hash a profile folder; with ``signature`` or ``keys``, check its
    model.sig too (against ``keys``, else the project's [trust]). Returns a summary line."""
    if signature or keys:
        return verify_signed(folder, signature_policy(project_dir, tuple(keys)))
    prepared = verify_profile(folder)
    return f"{folder}: {len(prepared.files)} files of {prepared.release} verified"


def verify_signed(folder: Path, policy: TrustPolicy) -> str:
    """`tether verify --signature`: a profile folder (re-hash + signature) or any folder
    signed with OMS (a downloaded release, or one model_signing signed). Returns a summary."""
    folder = Path(folder)
    if (folder / PREPARED_FILE).is_file():
        prepared = verify_profile(folder)
        verified = check_profile_signature(folder, prepared, replace(policy, mode="require"))
        assert verified is not None  # require raises instead
        return (
            f"{folder}: {len(prepared.files)} files of {prepared.release} verified, "
            f"signed by {verified.signer}"
        )
    verified, count = verify_signed_folder(folder, keys=policy.keys, identities=policy.identities)
    return f"{folder}: {count} files verified against {SIGNATURE_FILE}, signed by {verified.signer}"


def verify_signed_folder(
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
    signing = signing_extra()
    folder = Path(folder)
    where = str(folder)
    try:
        data = (folder / SIGNATURE_FILE).read_bytes()
    except FileNotFoundError:
        raise UnsignedReleaseError(f"{folder} holds no {SIGNATURE_FILE}") from None
    verified = signing.verify_signature(data, keys=keys, identities=identities, where=where)
    try:
        present = [rel for rel in list_files(folder) if rel != SIGNATURE_FILE]
    except ValueError as exc:  # a symbolic link: model_signing refuses those too
        raise IntegrityError(f"{folder}: {exc}") from None
    manifest: Manifest | None = None
    if (folder / MANIFEST_FILE).is_file():
        raw = (folder / MANIFEST_FILE).read_bytes()
        manifest = parse_manifest(raw, where=f"{folder}/{MANIFEST_FILE}")
    listed = set(manifest.files) if manifest else set()
    # MANIFEST.txt is compared whatever the signature's ignore list says: it vouches for the
    # files the signature leaves out (tests/signing/test_signing_hardening.py)
    rels = [
        rel
        for rel in present
        if rel == MANIFEST_FILE or rel in listed or not verified.statement.ignores(rel)
    ]
    hashed = sha256_files([folder / rel for rel in rels])
    digests = {rel: hashed[folder / rel] for rel in rels}
    signing.compare_files(
        verified.statement,
        digests,
        where=where,
        listing=set(present),
        file_shards=folder_shards(folder),
    )
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
