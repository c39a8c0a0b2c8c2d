"""`tether audit --bundle DIR`: from a built app alone, which release it embeds and whether
the files are that release's, and where the release's provenance is.

No store and no project are needed: the app's profile folders carry their .prepared.json
(release, store URL, manifest digest), MANIFEST.txt (file digests, source, build facts) and
provenance.intoto.json (the same facts as an in-toto statement, what signing tools consume).
"""

from __future__ import annotations

import json
from pathlib import Path

from tether.bundle.built import find_apps, run_self_test, unpacked_data
from tether.bundle.layout import MODELS_DIR, RECORD_FILE
from tether.bundle.verify import BundleCheck, ProfileCheck, app_lines, check_bundles
from tether.manifest import PROVENANCE_FILE, Manifest
from tether.names import SIGNATURE_FILE
from tether.spine import AuditReport


def audit_bundle(folder: Path, *, self_test: bool = False) -> AuditReport:
    """Each bundle found at or below ``folder`` (a bundle dir or a built app), audited; for a
    built app also what it needs to load the model (tether.bundle.built), and with
    ``self_test`` the executable's own ``--tether-self-test`` run offline."""
    folder = Path(folder)
    report = AuditReport()
    if folder.is_file():  # a one-file app: its bundle is inside the executable
        apps = find_apps(folder)
        if not apps:
            report.add(False, f"app: {folder} is neither a folder nor a built app tether reads")
            return report
        with unpacked_data(apps[0]) as root:
            checks = check_bundles(root)
            _audit_all(report, root, checks, folder.as_posix())
            report.checks += app_lines(apps[0], checks, folder.as_posix(), root)
    else:
        checks = check_bundles(folder) if folder.is_dir() else []
        _audit_all(report, folder, checks, None)
        apps = find_apps(folder) if folder.is_dir() else []
        for app in apps:
            report.checks += app_lines(app, checks, _rel(app.executable.parent, folder))
    if self_test:
        if not apps:
            report.add(False, f"self-test: no built app in {folder} to run")
        for app in apps:
            report.checks += run_self_test(app)
    return report


def _audit_all(
    report: AuditReport, folder: Path, checks: list[BundleCheck], shown: str | None
) -> None:
    if not checks:
        report.add(
            False,
            f"bundle: none in {shown or folder} (no {RECORD_FILE}, "
            f"no {MODELS_DIR}/*/.prepared.json)",
        )
    for check in checks:
        _audit_one(report, folder, check, shown)


def _audit_one(report: AuditReport, given: Path, check: BundleCheck, shown: str | None) -> None:
    where = _rel(check.root, given)
    if shown is not None:  # inside a one-file app: name the app, not the temp folder
        inner = check.root.relative_to(given).as_posix()
        where = shown if inner == "." else f"{shown}!{inner}"
    if check.record is not None:
        report.add(True, f"bundle: {where} ({RECORD_FILE}, made by tether {check.record.tether})")
    else:
        report.add(True, f"bundle: {where} (no {RECORD_FILE}: profile folders only)")
    for problem in check.problems:
        report.add(False, f"  {problem}")
    if not check.profiles:
        report.add(False, f"profiles: none in {where}/{MODELS_DIR}")
    for profile in check.profiles:
        _audit_profile(report, where, profile)
    for asset, problems in check.assets:
        report.add(
            not problems,
            f"asset: {asset.name} ({len(asset.files)} file(s), {asset.sha256[:19]}...) "
            f"from {asset.source}" + ("" if not problems else f": {len(problems)} problem(s)"),
        )
        report.checks += [(False, f"  {p}") for p in problems]


def _audit_profile(report: AuditReport, where: str, profile: ProfileCheck) -> None:
    prepared, manifest = profile.prepared, profile.manifest
    label = f"{where}/{profile.rel}"
    if prepared is None:
        report.add(False, f"profile: {label} is not a prepared profile folder")
        report.checks += [(False, f"  {p}") for p in profile.problems]
        return
    variants = ", ".join(prepared.variants) or "all files"
    report.add(True, f"release: {prepared.name} {prepared.release} [{variants}] in {label}")
    report.add(True, f"store: {prepared.store}")
    ok = not profile.problems
    report.add(
        ok,
        f"files: {len(prepared.files)} match the release's MANIFEST.txt (sha256)"
        if ok
        else f"files: {len(profile.problems)} problem(s) against the release's MANIFEST.txt",
    )
    report.checks += [(False, f"  {p}") for p in profile.problems]
    if manifest is None:
        return
    source = manifest.sections.get("Source", {})
    build = manifest.sections.get("Build", {})
    if source:
        report.add(True, f"source: {source.get('model', '?')} @ {source.get('revision', '?')}")
    if build:
        report.add(
            True,
            f"built: {build.get('timestamp', '?')} by {build.get('workflow', '?')}",
        )
    report.add(*_provenance(profile, label, manifest))
    if (profile.folder / SIGNATURE_FILE).is_file():
        report.add(
            True,
            f"signature: {label}/{SIGNATURE_FILE} (check the signer: tether verify --signature "
            f"{profile.folder})",
        )
    else:
        report.add(True, "signature: none bundled (the release was fetched without [trust])")


def _provenance(profile: ProfileCheck, label: str, manifest: Manifest) -> tuple[bool, str]:
    """Is provenance.intoto.json there, and do its subjects agree with the MANIFEST?"""
    path = profile.folder / PROVENANCE_FILE
    where = f"{label}/{PROVENANCE_FILE}"
    if PROVENANCE_FILE not in manifest.files:
        return True, f"provenance: the release has no {PROVENANCE_FILE}; MANIFEST.txt only"
    if not path.is_file():
        return False, f"provenance: {where} is missing"
    try:
        statement = json.loads(path.read_text(encoding="utf-8"))
        subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"provenance: {where} is unreadable ({exc.__class__.__name__})"
    expected = {rel: d for rel, d in manifest.files.items() if rel != PROVENANCE_FILE}
    if subjects != expected:
        return False, f"provenance: {where} names other files than MANIFEST.txt"
    return True, f"provenance: {where} ({len(subjects)} subjects agree with MANIFEST.txt)"


def _rel(root: Path, given: Path) -> str:
    try:
        rel = root.relative_to(given).as_posix()
    except ValueError:
        return root.as_posix()
    return given.as_posix() if rel == "." else f"{given.as_posix()}/{rel}"
