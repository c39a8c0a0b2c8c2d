"""Verify a bundle, or the bundle inside a built app: every needed file there, whole, right.

Each profile folder is checked against its .prepared.json *and* its MANIFEST.txt (both must
name the same digest for every file), the files the chosen variants need (profile.json,
tokenizer.json, the model and its external-data sidecars) must be listed, present, non-empty
and of the recorded size, and then every file is re-hashed. Assets are re-hashed against the
record and their declared digest. Every problem is collected, so one run names them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tether.bundle.built import BuiltApp, find_apps, runtime_checks, unpacked_data
from tether.bundle.layout import (
    MODELS_DIR,
    RECORD_FILE,
    BundledAsset,
    BundleRecord,
    FoundBundle,
    find_bundles,
    is_state_file,
)
from tether.errors import IntegrityError, ManifestError
from tether.hashing import listing_digest, sha256_file, sha256_files
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest
from tether.names import SIGNATURE_FILE
from tether.prepared import PREPARED_FILE, Prepared, PreparedFile, read_prepared
from tether.profile import PROFILE_FILE, TOKENIZER_FILE, read_profile
from tether.spine import TrustPolicy, check_profile_signature


@dataclass
class ProfileCheck:
    """What one bundled profile folder holds, and what is wrong with it."""

    folder: Path
    rel: str  # relative to the bundle root
    prepared: Prepared | None = None
    manifest: Manifest | None = None
    variants: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    signer: str | None = None  # set when model.sig was checked and vouches for the files


@dataclass
class BundleCheck:
    root: Path
    record: BundleRecord | None
    profiles: list[ProfileCheck] = field(default_factory=list)
    assets: list[tuple[BundledAsset, list[str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # bundle-level (record vs folders)

    def all_problems(self) -> list[str]:
        found = list(self.problems)
        for profile in self.profiles:
            found += profile.problems
        for _, problems in self.assets:
            found += problems
        return found

    @property
    def files(self) -> int:
        count = sum(len(p.prepared.files) for p in self.profiles if p.prepared)
        return count + sum(len(a.files) for a, _ in self.assets)


def check_bundles(folder: Path, variants: str | None = None) -> list[BundleCheck]:
    """Check every bundle at or below ``folder`` (a bundle dir or a built app); no raising."""
    folder = Path(folder)
    return [check_bundle(found, variants) for found in find_bundles(folder)]


def verify_bundle(
    folder: Path, variants: str | None = None, *, signature: TrustPolicy | None = None
) -> list[BundleCheck]:
    """:func:`check_bundles`, raising IntegrityError naming each problem (exit 1).

    With a ``signature`` policy each profile's model.sig must then vouch for its files
    (SignatureError subclasses when it does not, or only a warning under ``warn``).
    """
    folder = Path(folder)
    if folder.is_file():
        apps = find_apps(folder)
        if not apps:
            raise IntegrityError(
                f"{folder} is not a built app tether reads", "pass the bundle or built app"
            )
        with unpacked_data(apps[0]) as root:  # a one-file app: checked on its data, unpacked
            checks = check_bundles(root, variants)
            problems = [p for check in checks for p in check.all_problems()]
            lines = app_lines(apps[0], checks, str(folder), root)
            problems += [line for ok, line in lines if not ok]
            if problems or not checks:
                raise IntegrityError(
                    f"{folder} does not verify ({len(problems) or 'no bundle, 1'} problem(s))",
                    "rebuild the app from a fresh bundle: tether bundle --out DIR",
                    problems=problems or [f"missing: {MODELS_DIR}/ (no bundle in the app)"],
                )
            for check in checks:  # the unpacked folder goes away: show the app instead
                check.root = folder
                for profile in check.profiles:
                    profile.folder = folder / profile.rel
        return checks
    if not folder.is_dir():
        raise IntegrityError(f"{folder} is not a folder", "pass the bundle or built app folder")
    checks = check_bundles(folder, variants)
    if not checks:
        hint = "make one with: tether bundle --out DIR"
        if (folder / PREPARED_FILE).is_file():
            hint = f"{folder} is a profile folder: check it with tether verify {folder}"
        raise IntegrityError(
            f"no tether bundle in {folder} (no {RECORD_FILE}, no {MODELS_DIR}/*/{PREPARED_FILE})",
            hint,
        )
    problems = []
    for check in checks:
        where = _shown(check.root, folder)
        problems += [f"{where}{p}" for p in check.all_problems()]
    hint = "rebuild the bundle: tether bundle --out DIR"
    for app in find_apps(folder):  # a built app must also hold what loads the model
        shown = _shown(app.executable.parent, folder).rstrip(": ") or "."
        missing = [line for ok, line in app_lines(app, checks, shown) if not ok]
        if missing:
            hint = "rebuild the app with what loads the model (docs/shipping.md)"
        problems += missing
    if problems:
        raise IntegrityError(
            f"{folder} does not verify ({len(problems)} problem(s))", hint, problems=problems
        )
    if signature is not None and signature.active:
        for check in checks:
            for profile in check.profiles:
                assert profile.prepared is not None  # no problems, so it was read
                verified = check_profile_signature(profile.folder, profile.prepared, signature)
                profile.signer = verified.signer if verified else None
    return checks


def app_lines(
    app: BuiltApp, checks: list[BundleCheck], shown: str, root: Path | None = None
) -> list[tuple[bool, str]]:
    """tether.bundle.built's runtime lines for ``app``, over the profiles bundled in it
    (``root``: a one-file app's data, unpacked)."""
    base = app.executable.parent if root is None else root
    profiles = []
    for check in checks:
        for profile in check.profiles:
            if base is not None and base not in profile.folder.parents:
                continue  # another app's, in the same dist/ folder
            try:
                profiles.append((read_profile(profile.folder).profile_id, profile.folder))
            except (OSError, ManifestError):
                continue  # already a problem of the profile check
    return runtime_checks(app, profiles, shown, root or app.data_root)


def _shown(root: Path, given: Path) -> str:
    """Prefix for problems: the bundle root relative to what the user passed ('' if same)."""
    try:
        rel = root.relative_to(given).as_posix()
    except ValueError:
        rel = root.as_posix()
    return "" if rel in ("", ".") else f"{rel}: "


def check_bundle(found: FoundBundle, variants: str | None = None) -> BundleCheck:
    check = BundleCheck(found.root, found.record)
    for folder in found.profile_dirs:
        check.profiles.append(check_profile(folder, folder.relative_to(found.root), variants))
    models = found.root / MODELS_DIR
    if models.is_dir():
        for entry in sorted(os.scandir(models), key=lambda e: e.name):
            if not entry.is_dir() and not is_state_file(entry.name):
                check.problems.append(f"extra: {MODELS_DIR}/{entry.name}")
    if found.record is not None:
        _check_record(check, found)
        for asset in found.record.assets:
            check.assets.append((asset, check_asset(found.root, asset)))
    if not check.profiles and variants is not None:
        check.problems.append(f"missing: {MODELS_DIR}/ (no profile folder for {variants})")
    return check


def _check_record(check: BundleCheck, found: FoundBundle) -> None:
    record = found.record
    assert record is not None
    by_path = {p.rel: p for p in check.profiles}
    for entry in record.profiles:
        profile = by_path.pop(entry.path, None)
        if profile is None:
            check.problems.append(f"missing: {entry.path}/ (listed in {RECORD_FILE})")
            continue
        prepared = profile.prepared
        if prepared is None:
            continue
        if (prepared.release, prepared.manifest_sha256) != (entry.release, entry.manifest_sha256):
            check.problems.append(
                f"mismatch: {entry.path} holds {prepared.release}, {RECORD_FILE} says "
                f"{entry.release}"
            )
    for rel in by_path:
        check.problems.append(f"extra: {rel}/ is not listed in {RECORD_FILE}")


def check_profile(folder: Path, rel: Path | str, variants: str | None = None) -> ProfileCheck:
    """Stat, then re-hash, one profile folder against .prepared.json and MANIFEST.txt."""
    rel = Path(rel).as_posix()
    check = ProfileCheck(folder, rel)
    problems = check.problems
    try:
        check.prepared = prepared = read_prepared(folder)
    except ManifestError as exc:
        problems.append(f"malformed: {rel}/{PREPARED_FILE} ({exc.message})")
        return check
    if prepared is None:
        problems.append(f"missing: {rel}/{PREPARED_FILE} (not a prepared profile folder)")
        return check
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        problems.append(f"missing: {rel}/{MANIFEST_FILE}")
    elif sha256_file(manifest_path) != prepared.manifest_sha256:
        problems.append(f"mismatch: {rel}/{MANIFEST_FILE} is not the one that was fetched")
    else:
        try:
            check.manifest = parse_manifest(
                manifest_path.read_text(encoding="utf-8"), where=str(manifest_path)
            )
        except (ManifestError, UnicodeDecodeError) as exc:
            problems.append(f"malformed: {rel}/{MANIFEST_FILE} ({exc})")

    check.variants = _chosen(prepared, variants, rel, problems)
    for need, why in _needed(folder, prepared, check.variants, check.manifest).items():
        if need not in prepared.files:
            problems.append(f"missing: {rel}/{need} (needed by {why}, not in {PREPARED_FILE})")

    problems += _check_files(folder, rel, prepared.files, check.manifest)
    # model.sig sits beside a release fetched under a [trust] policy; it signs MANIFEST.txt
    expected = set(prepared.files) | {MANIFEST_FILE, PREPARED_FILE, SIGNATURE_FILE}
    for extra in _list_all(folder):
        if extra not in expected:
            problems.append(f"extra: {rel}/{extra}")
    return check


def _chosen(prepared: Prepared, variants: str | None, rel: str, problems: list[str]) -> list[str]:
    if variants is None:
        return list(prepared.variants)
    wanted = list(prepared.variants) if variants == "both" else [variants]
    if variants == "both" and not wanted:
        return []
    for variant in wanted:
        if variant not in prepared.variants:
            have = ", ".join(prepared.variants) or "none"
            problems.append(f"missing: {rel} variant {variant} (bundled: {have})")
    return [v for v in wanted if v in prepared.variants]


def _needed(
    folder: Path, prepared: Prepared, variants: list[str], manifest: Manifest | None
) -> dict[str, str]:
    """File -> why it is needed, for the chosen variants (from profile.json, if readable)."""
    if not variants:
        return {}
    needed = {PROFILE_FILE: "the profile contract"}
    listed = set(manifest.files) if manifest else set(prepared.files)
    if TOKENIZER_FILE in listed:
        needed[TOKENIZER_FILE] = "the tokenizer"
    try:
        declared = read_profile(folder).variant_files(listed)
    except (OSError, ManifestError):
        return needed  # profile.json itself is reported missing or mismatched
    for variant in variants:
        if variant not in declared:
            needed[f"profile.json variants.{variant}"] = f"variant {variant}"
            continue
        model, *sidecars = declared[variant]
        needed[model] = f"variant {variant}"
        for sidecar in sidecars:
            needed[sidecar] = f"variant {variant} (external data)"
    return needed


def _check_files(
    folder: Path, rel: str, files: dict[str, PreparedFile], manifest: Manifest | None
) -> list[str]:
    """Missing / empty / truncated by stat first; the rest re-hashed (in parallel)."""
    problems = []
    to_hash = []
    for name, entry in sorted(files.items()):
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            problems.append(f"missing: {rel}/{name}")
            continue
        if size == 0 and entry.size != 0:
            problems.append(f"empty: {rel}/{name}")
        elif size != entry.size:
            kind = "truncated" if size < entry.size else "size differs"
            problems.append(f"{kind}: {rel}/{name} ({size} bytes, recorded {entry.size})")
        else:
            to_hash.append(name)
    digests = sha256_files([folder / name for name in to_hash])
    for name in to_hash:
        got = digests[folder / name]
        if got != files[name].sha256:
            problems.append(f"mismatch: {rel}/{name} (sha256 {got[:12]}...)")
        elif manifest is not None and manifest.files.get(name) != got:
            problems.append(f"mismatch: {rel}/{name} is not the file {MANIFEST_FILE} lists")
    return problems


def check_asset(root: Path, asset: BundledAsset) -> list[str]:
    folder = root / asset.path
    if not folder.is_dir():
        return [f"missing: {asset.path}/ (asset {asset.name})"]
    problems = _check_files(folder, asset.path, asset.files, None)
    if asset.sha256.startswith("sha256:"):
        if listing_digest({r: f.sha256 for r, f in asset.files.items()}) != asset.sha256:
            problems.append(f"mismatch: {asset.path}/ files do not make its digest {asset.sha256}")
    elif [f.sha256 for f in asset.files.values()] != [asset.sha256]:
        problems.append(f"mismatch: {asset.path}/ is not the one file of sha256 {asset.sha256}")
    for extra in _list_all(folder):
        if extra not in asset.files:
            problems.append(f"extra: {asset.path}/{extra}")
    return problems


def _list_all(folder: Path) -> list[str]:
    """Every file below ``folder``, links included (a bundle holds plain files only)."""
    found = []
    for current, dirs, names in os.walk(folder):
        dirs.sort()
        found += [Path(current, name).relative_to(folder).as_posix() for name in names]
    return sorted(found)
