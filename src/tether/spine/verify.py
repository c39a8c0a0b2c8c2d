"""Verify a profile folder by re-hashing, and audit the chain pin -> release -> folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tether.errors import IntegrityError, ProfileNotFoundError, TetherError
from tether.hashing import list_files, sha256_bytes, sha256_file, sha256_files
from tether.manifest import MANIFEST_FILE, parse_manifest
from tether.prepared import PREPARED_FILE, Prepared, read_prepared
from tether.spine.release import read_manifest, release_info
from tether.spine.trust import SIGNATURE_FILE, TrustPolicy, audit_signature, check_profile_signature
from tether.stores.base import Store
from tether.versioning import release_tag


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
        manifest_files = parse_manifest(manifest_path.read_text(encoding="utf-8")).files

    present = [rel for rel in prepared.files if (folder / rel).is_file()]
    digests = sha256_files([folder / rel for rel in present])
    for rel, entry in sorted(prepared.files.items()):
        path = folder / rel
        if rel not in present:
            problems.append(f"missing: {rel}")
        elif path.stat().st_size == 0 and entry.size != 0:
            problems.append(f"empty: {rel}")
        elif digests[path] != entry.sha256:
            problems.append(f"mismatch: {rel} (sha256 {digests[path][:12]}...)")
        elif manifest_files and manifest_files.get(rel) != entry.sha256:
            problems.append(f"mismatch: {rel} is not the file MANIFEST.txt lists")
    expected = set(prepared.files) | {MANIFEST_FILE, PREPARED_FILE, SIGNATURE_FILE}
    problems += [f"extra: {rel}" for rel in list_files(folder) if rel not in expected]
    if problems:
        raise IntegrityError(
            f"{folder} does not verify against {prepared.release} ({len(problems)} problem(s))",
            "re-fetch it: tether fetch",
            problems=problems,
        )
    if signature is not None and signature.active:
        check_profile_signature(folder, prepared, signature)
    return prepared


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
        report.add(
            info.state != "withdrawn", f"release: {name} {tag} in {store.url} ({info.state})"
        )
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
