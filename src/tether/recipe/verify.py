"""``tether build --compare-with VERSION``: does a rebuild give the release's bytes?

Three digests per file: the release's MANIFEST.txt, the file as the store holds it now,
and the rebuild. A stored file that differs from its MANIFEST was changed after
publishing; a rebuild that differs means the recipe, source or toolchain does not
reproduce the release. Both name the file.

probe.json is the one derived file whose bytes may legitimately differ across CPUs
(onnxruntime picks float kernels per instruction set, and the parity numbers it records
follow): when only its bytes differ, its vectors are compared instead.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tether.errors import IntegrityError, ManifestError
from tether.manifest import PROVENANCE_FILE, Manifest, hash_payload
from tether.names import PROBE_FILE
from tether.project import Project
from tether.recipe.pipeline import Progress, build, require_toolchain
from tether.recipe.schema import load_recipe
from tether.runtime import parse_probe, read_probe_file
from tether.stores.base import Store, read_bytes, stored_sha256
from tether.versioning import normalize_version, release_tag

PROBE_TOLERANCE = {"fp32": 0.99999, "int8": 0.9999}


@dataclass
class VerifyReport:
    name: str
    version: str
    identical: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # each names a file
    notes: list[str] = field(default_factory=list)  # differences that explain, not fail

    @property
    def ok(self) -> bool:
        return not self.problems


def rebuild_and_compare(
    project: Project,
    store: Store,
    version: str,
    *,
    out_dir: Path | None = None,
    run_url: str | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """`tether build --compare-with VERSION`: rebuild the project's recipe (into ``out_dir``,
    else a temporary folder) and compare every file with release ``version`` of its name.

    Returns the report when every file matches; IntegrityError naming each file that differs
    (with the notes that explain it) otherwise. An unknown version fails before building.
    """
    from tether.spine import read_manifest

    recipe = load_recipe(project)
    if recipe.source.prebuilt is None:  # a mirror rebuilds without the build extra
        require_toolchain()
    version = normalize_version(version)
    read_manifest(store, recipe.name, version)  # fail before a minutes-long build
    with contextlib.ExitStack() as stack:
        if out_dir is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="tether-verify-"))
            out_dir = Path(tmp) / recipe.name
        result = build(recipe, out_dir, run_url=run_url, progress=progress)
        report = verify_against(store, recipe.name, version, result.out_dir, result.manifest)
    raise_on_problems(report)
    return report


def verify_against(
    store: Store, name: str, version: str, built_dir: Path, built: Manifest | None = None
) -> VerifyReport:
    """Compare a rebuild in ``built_dir`` with release ``version`` of ``name``."""
    from tether.spine import read_manifest

    version = normalize_version(version)
    released, _ = read_manifest(store, name, version)
    report = VerifyReport(name=name, version=version)
    rebuilt = hash_payload(built_dir)
    listed = {rel: d for rel, d in released.files.items() if rel != PROVENANCE_FILE}

    for rel in sorted(set(listed) | set(rebuilt)):
        if rel not in rebuilt:
            report.problems.append(f"{rel}: in the release, not produced by the rebuild")
            continue
        if rel not in listed:
            report.problems.append(f"{rel}: produced by the rebuild, not in the release")
            continue
        stored = stored_sha256(store, name, report.version, rel)
        if stored != listed[rel]:
            report.problems.append(
                f"{rel}: the stored file differs from the release's MANIFEST.txt "
                "(changed after publishing)"
            )
            continue
        same = rebuilt[rel] == listed[rel]
        if same or (rel == PROBE_FILE and _probe_agrees(store, name, report, built_dir / rel)):
            report.identical.append(rel)
        else:
            report.problems.append(f"{rel}: the rebuild differs from the release")

    if built is not None:
        _explain(report, released, built)
    return report


def raise_on_problems(report: VerifyReport) -> None:
    if report.problems:
        raise IntegrityError(
            f"rebuild does not match {report.name} {release_tag(report.version)}: "
            f"{len(report.problems)} file(s) differ",
            "see the files listed; compare the Tooling and Source sections of both MANIFESTs",
            problems=report.problems + [f"note: {n}" for n in report.notes],
        )


def _probe_agrees(store: Store, name: str, report: VerifyReport, rebuilt: Path) -> bool:
    import numpy as np

    try:
        old = parse_probe(read_bytes(store, name, report.version, PROBE_FILE))
        new = read_probe_file(rebuilt)
    except ManifestError:
        return False
    if old.texts != new.texts or set(old.vectors) != set(new.vectors):
        return False
    worst = {}
    for variant in new.vectors:
        a = np.asarray(old.vectors[variant], dtype=np.float64)
        b = np.asarray(new.vectors[variant], dtype=np.float64)
        if a.shape != b.shape:
            return False
        cos = (a * b).sum(1) / np.maximum(
            np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12
        )
        worst[variant] = float(cos.min()) if len(cos) else 1.0
        if worst[variant] < PROBE_TOLERANCE.get(variant, PROBE_TOLERANCE["int8"]):
            return False
    summary = ", ".join(f"{k} min cosine {v:.6f}" for k, v in worst.items())
    report.notes.append(
        f"{PROBE_FILE}: bytes differ (float kernels of this CPU), vectors agree: {summary}"
    )
    return True


def _explain(report: VerifyReport, released: Manifest, built: Manifest) -> None:
    """Name what differs between the two builds' facts (tooling, source, recipe)."""
    for section in ("Tooling", "Source"):
        old, new = released.sections.get(section, {}), built.sections.get(section, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                report.notes.append(
                    f"{section} {key}: release {old.get(key, '-')}, rebuild {new.get(key, '-')}"
                )
    old_recipe, new_recipe = released.fact("Build", "recipe"), built.fact("Build", "recipe")
    if old_recipe != new_recipe:
        report.notes.append(f"recipe: release {old_recipe or '-'}, rebuild {new_recipe}")
