"""Mirror: copy releases between any two stores, verified, skipping what is already there.

Each release is downloaded from SRC into a temp folder with every file checked against
its MANIFEST.txt (resuming broken downloads), then published to DEST, which checks again
on its side. A version DEST already has is compared by its MANIFEST.txt: the same bytes
are skipped; a different MANIFEST under the same version is a conflict, reported and never
overwritten (releases are immutable in DEST too). Record documents (state.json and the
rest) are copied when they differ, so a withdrawal in SRC reaches DEST on the next mirror.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tether.errors import ReleaseExistsError, ReleaseNotFoundError
from tether.hashing import sha256_bytes
from tether.manifest import MANIFEST_FILE
from tether.project import Project
from tether.spine.catalog import read_manifest
from tether.spine.fetch import download_release
from tether.spine.layout import Progress
from tether.stores import open_store
from tether.stores.base import Store
from tether.versioning import normalize_version, parse_version, release_tag

log = logging.getLogger(__name__)

#: Called with one line about each release: what was done with it.
Report = Callable[[str], None]


@dataclass
class MirrorResult:
    src: str = ""  # the stores' URLs
    dest: str = ""
    copied: list[str] = field(default_factory=list)  # "name model-vX" published to DEST
    skipped: list[str] = field(default_factory=list)  # already in DEST, identical
    records: list[str] = field(default_factory=list)  # "name model-vX key" written to DEST
    conflicts: list[str] = field(default_factory=list)  # same version, another MANIFEST


def mirror(
    src: Store,
    dest: Store,
    *,
    names: list[str] | None = None,
    versions: list[str] | None = None,
    report: Report | None = None,
    progress: Callable[[str, str], Progress | None] | None = None,
    workdir: Path | None = None,
) -> MirrorResult:
    """Copy ``versions`` (default: all) of ``names`` (default: all in SRC) from SRC to DEST.

    ``progress(name, version)`` may return a byte-progress callback for that download.
    Conflicts are collected in the result, not raised, so one bad version does not stop
    the others; callers decide (the CLI exits 1).
    """
    result = MirrorResult(src.url, dest.url)
    say = report or (lambda line: None)
    wanted = [normalize_version(v) for v in versions] if versions else None
    for name in names if names is not None else src.names():
        available = sorted({str(parse_version(v)) for v in src.versions(name)}, key=parse_version)
        if wanted is not None:
            missing = [v for v in wanted if v not in available]
            if missing:
                raise ReleaseNotFoundError(
                    f"{src.url} has no release {name} {release_tag(missing[0])}"
                )
            available = [v for v in available if v in wanted]
        in_dest = {str(parse_version(v)) for v in dest.versions(name)}
        for version in available:
            _mirror_one(
                src, dest, name, version, version in in_dest, result, say, progress, workdir
            )
    return result


def mirror_stores(
    src: str,
    dest: str,
    versions: list[str] | tuple[str, ...] = (),
    *,
    project_dir: Path | str = ".",
    name: str | None = None,
    report: Report | None = None,
    progress: Callable[[str, str], Progress | None] | None = None,
) -> MirrorResult:
    """`tether mirror SRC DEST [VERSION]...`: stores by URL; ``versions`` (default: all) of
    ``name``, else of the project's model, else of every model in SRC. Versions need one
    name, so with versions and no configured name SRC's only model is taken."""
    project = Project.load(project_dir)
    source, target = open_store(src), open_store(dest)
    chosen = name or project.configured_name()
    if chosen is None and versions:
        chosen = project.release_name(None, source)
    return mirror(
        source,
        target,
        names=[chosen] if chosen else None,
        versions=list(versions) or None,
        report=report,
        progress=progress,
    )


def _mirror_one(
    src: Store,
    dest: Store,
    name: str,
    version: str,
    in_dest: bool,
    result: MirrorResult,
    say: Report,
    progress: Callable[[str, str], Progress | None] | None,
    workdir: Path | None,
) -> None:
    label = f"{name} {release_tag(version)}"
    src_manifest, src_raw = read_manifest(src, name, version)
    if not in_dest:
        try:
            listed = [*src_manifest.files, MANIFEST_FILE]
            _copy_release(src, dest, name, version, listed, progress, workdir)
            result.copied.append(label)
            say(f"copied {label}")
        except ReleaseExistsError:  # another mirror or publisher got there first
            in_dest = True
    if in_dest:
        _, dest_raw = read_manifest(dest, name, version)
        if dest_raw != src_raw:
            result.conflicts.append(
                f"{label}: DEST's MANIFEST.txt is sha256 {sha256_bytes(dest_raw)[:12]}..., "
                f"SRC's is {sha256_bytes(src_raw)[:12]}..."
            )
            say(f"CONFLICT {label}: DEST holds a different release under this version")
            return  # never mix records of two different releases
        result.skipped.append(label)
        say(f"skipped {label} (already in DEST)")
    for key in src.record_keys(name, version):
        data = src.read_record(name, version, key)
        if data is not None and dest.read_record(name, version, key) != data:
            dest.write_record(name, version, key, data)
            result.records.append(f"{label} {key}")
            say(f"  record {key} of {label} written")


def _copy_release(
    src: Store,
    dest: Store,
    name: str,
    version: str,
    listed: list[str],
    progress: Callable[[str, str], Progress | None] | None,
    workdir: Path | None,
) -> None:
    with tempfile.TemporaryDirectory(prefix="tether-mirror-", dir=workdir) as tmp:
        folder = Path(tmp) / "release"
        download_release(
            src, name, version, folder, progress=progress(name, version) if progress else None
        )
        files = {rel: folder / rel for rel in listed}
        log.info("publishing %s %s to %s", name, release_tag(version), dest.url)
        dest.publish(name, version, files)
