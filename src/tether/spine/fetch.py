"""Fetch a release into a profile folder: exactly its bytes, verified, or nothing at all.

Every file goes to a temp name inside the target folder, hashed while it is written, and
is compared with the release's MANIFEST.txt. Only when every file has passed does the
folder change: the old .prepared.json goes first (so nothing half-new is ever taken for
complete), the verified files are renamed into place, files the new pin does not list
are deleted, and the new .prepared.json is written last, atomically. A lock beside the
folder makes racing fetches take turns; the second one finds the work done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tether.atomic import fsync_dir, write_atomic
from tether.errors import (
    IntegrityError,
    InvalidVariantError,
    ManifestError,
    StoreUnavailableError,
)
from tether.hashing import copy_hashing, sha256_bytes, sha256_files
from tether.locking import file_lock
from tether.manifest import MANIFEST_FILE, Manifest
from tether.names import TEMP_SUFFIX
from tether.paths import check_name
from tether.prepared import (
    PREPARED_FILE,
    VARIANT_CHOICES,
    Prepared,
    PreparedFile,
    already_prepared,
    write_prepared,
)
from tether.spine.release import PROFILE_FILE, read_manifest, release_info, require_usable
from tether.spine.trust import (
    SIGNATURE_FILE,
    TrustPolicy,
    check_release,
    copy_signature,
    prepared_needs_refetch,
    raise_if_signed,
    record_verified,
    stage_signature,
)
from tether.stores.base import Store, read_bytes
from tether.versioning import normalize_version, release_tag

log = logging.getLogger(__name__)

RESUME_ATTEMPTS = 3

#: Called with (file, bytes of all files done so far, bytes of all files to download).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FetchResult:
    folder: Path
    prepared: Prepared
    changed: bool
    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def fetch_release(
    store: Store,
    name: str,
    version: str,
    dest_root: Path,
    *,
    variants: str = "both",
    progress: Progress | None = None,
    trust: TrustPolicy | None = None,
) -> FetchResult:
    """Make ``<dest_root>/<name>/`` hold release ``version`` for ``variants``, verified.

    With a ``trust`` policy the release's signature is checked first (tether.spine.trust).
    """
    name, version = check_name(name), normalize_version(version)
    if variants not in VARIANT_CHOICES:
        raise InvalidVariantError(f"unknown variant {variants!r}")
    folder = Path(dest_root) / name
    done = _already_prepared(folder, name, version, variants, trust)
    if done is not None:
        return FetchResult(folder, done, changed=False)
    with file_lock(Path(dest_root) / f".{name}.lock"):
        done = _already_prepared(folder, name, version, variants, trust)  # a racing fetch did it
        if done is not None:
            return FetchResult(folder, done, changed=False)
        return _fetch_locked(store, name, version, folder, variants, progress, trust)


def _already_prepared(
    folder: Path, name: str, version: str, variants: str, trust: TrustPolicy | None = None
) -> Prepared | None:
    if prepared_needs_refetch(folder, trust):  # prepared before [trust] existed
        return None
    return already_prepared(folder, name, release_tag(version), variants)


def _fetch_locked(
    store: Store,
    name: str,
    version: str,
    folder: Path,
    variants: str,
    progress: Progress | None,
    trust: TrustPolicy | None = None,
) -> FetchResult:
    require_usable(release_info(store, name, version))
    manifest, manifest_raw = read_manifest(store, name, version)
    chosen, wanted = select_files(store, manifest, variants)
    sizes = store.files(name, version)
    # check model.sig and rollback before anything is written
    verdict = check_release(store, name, version, manifest_raw, sizes, trust, folder.parent)
    missing = sorted(rel for rel in wanted if rel not in sizes)
    if missing:
        raise IntegrityError(
            f"{name} {release_tag(version)} in {store.url} lacks files its MANIFEST lists",
            problems=[f"missing: {rel}" for rel in missing],
        )

    folder.mkdir(parents=True, exist_ok=True)
    reused = _reusable(folder, wanted, manifest)
    to_download = [rel for rel in wanted if rel not in reused]
    temps: dict[str, Path] = {}
    try:
        report = _Reporter(progress, sum(sizes[rel] for rel in to_download))
        for rel in to_download:
            temps[rel] = _temp_path(folder / rel)
            report.file = rel
            download_verified(
                store, name, version, rel, manifest.files[rel], temps[rel], on_bytes=report
            )
        record = Prepared(
            store=store.url,
            name=name,
            release=release_tag(version),
            manifest_sha256=sha256_bytes(manifest_raw),
            variants=chosen,
            files={rel: PreparedFile(sizes[rel], manifest.files[rel]) for rel in wanted},
        )
        temps.update(stage_signature(verdict, _temp_path(folder / SIGNATURE_FILE)))
        removed = _activate(folder, temps, record, manifest_raw)
        temps.clear()
        record_verified(verdict, folder.parent)  # rollback state
    except IntegrityError as exc:  # a signed file that differs was changed
        raise_if_signed(verdict, next(reversed(temps), None), exc)
        raise
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
    log.info("fetched %s %s into %s", name, release_tag(version), folder)
    return FetchResult(folder, record, True, to_download, sorted(reused), removed)


def select_files(store: Store, manifest: Manifest, variants: str) -> tuple[list[str], list[str]]:
    """(chosen variants, files to fetch): all files but other variants' models and sidecars."""
    if PROFILE_FILE not in manifest.files:
        if variants != "both":
            raise InvalidVariantError(
                f"{manifest.name} {manifest.label} has no profile.json, so no variants",
                "omit --variant for generic artifacts",
            )
        return [], sorted(manifest.files)
    raw = read_bytes(store, manifest.name, manifest.version or "", PROFILE_FILE)
    if sha256_bytes(raw) != manifest.files[PROFILE_FILE]:
        raise IntegrityError(f"profile.json of {manifest.name} {manifest.label} was changed")
    declared = _variant_files(json.loads(raw), manifest)
    chosen = sorted(declared) if variants == "both" else [variants]
    unknown = [v for v in chosen if v not in declared]
    if unknown:
        raise InvalidVariantError(
            f"{manifest.name} {manifest.label} has no {unknown[0]} variant",
            f"choose from: {', '.join(sorted(declared))}",
        )
    excluded = {rel for v, files in declared.items() if v not in chosen for rel in files}
    excluded -= {rel for v in chosen for rel in declared[v]}
    return chosen, sorted(rel for rel in manifest.files if rel not in excluded)


def _variant_files(profile: dict, manifest: Manifest) -> dict[str, set[str]]:
    """Variant -> its model file and external-data sidecars, as listed in the manifest."""
    try:
        variants = profile["variants"]
        result = {}
        for variant, spec in variants.items():
            model = spec["file"]
            files = {model, *spec.get("data", [])}
            files |= {rel for rel in manifest.files if rel.startswith(model + "_data")}
            result[variant] = files
        return result
    except (KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"profile.json of {manifest.name} has no valid variants") from exc


def _reusable(folder: Path, wanted: list[str], manifest: Manifest) -> set[str]:
    """Files already in the folder with the right digest (re-hashed: local reads beat downloads)."""
    present = [rel for rel in wanted if (folder / rel).is_file()]
    digests = sha256_files([folder / rel for rel in present])
    return {rel for rel in present if digests[folder / rel] == manifest.files[rel]}


def _temp_path(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.with_name(f".{final.name}.{os.getpid()}{TEMP_SUFFIX}")


def download_verified(
    store: Store,
    name: str,
    version: str,
    rel: str,
    expected_sha256: str,
    target: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Stream one release file into ``target``, hashing as it goes; resume after a dropped
    connection with a ranged read. Raises IntegrityError (and deletes ``target``) when the
    bytes do not match. ``on_bytes`` is called with the size of each chunk written.
    """
    digest = hashlib.sha256()
    attempts = 0
    with open(target, "wb") as handle:
        while True:
            try:
                with store.open_file(name, version, rel, start=handle.tell()) as stream:
                    copy_hashing(stream, handle, digest, on_bytes)
                break
            except (ConnectionError, TimeoutError, StoreUnavailableError) as exc:
                attempts += 1
                if attempts > RESUME_ATTEMPTS:
                    raise
                log.warning(
                    "download of %s broke at byte %d (%s); resuming", rel, handle.tell(), exc
                )
        handle.flush()
        os.fsync(handle.fileno())
    if digest.hexdigest() != expected_sha256:
        target.unlink(missing_ok=True)
        raise IntegrityError(
            f"{rel} of {name} {release_tag(version)} does not match its MANIFEST digest "
            f"(got {digest.hexdigest()[:12]}..., expected {expected_sha256[:12]}...)",
            "the store's copy is corrupt or was tampered with; nothing was activated",
        )


class _Reporter:
    """Turns per-chunk byte counts into (file, done, total) progress reports."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done, self.file = progress, total, 0, ""

    def __call__(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.file, self.done, self.total)


def _activate(
    folder: Path, temps: dict[str, Path], record: Prepared, manifest_raw: bytes
) -> list[str]:
    """Swap verified files in; delete what the new record does not list; record last."""
    (folder / PREPARED_FILE).unlink(missing_ok=True)
    for rel, temp in temps.items():
        os.replace(temp, folder / rel)
    removed = []
    keep = set(record.files) | {MANIFEST_FILE, PREPARED_FILE} | set(temps)  # + model.sig
    for root, dirs, names in os.walk(folder, topdown=False):
        for file_name in names:
            path = Path(root, file_name)
            rel = path.relative_to(folder).as_posix()
            if rel not in keep:
                path.unlink()
                removed.append(rel)
        for dir_name in dirs:
            path = Path(root, dir_name)
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for parent in {(folder / rel).parent for rel in temps} | {folder}:
        fsync_dir(parent)
    write_atomic(folder / MANIFEST_FILE, manifest_raw)
    write_prepared(folder, record)
    return sorted(removed)


def download_release(
    store: Store, name: str, version: str, dest: Path, *, progress: Progress | None = None
) -> Path:
    """A verified copy of a whole release (MANIFEST.txt included) in a new folder ``dest``."""
    version = normalize_version(version)
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise IntegrityError(
            f"{dest} exists and is not empty", "choose a new --dest folder", problems=[]
        )
    manifest, manifest_raw = read_manifest(store, name, version)
    sizes = store.files(name, version)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(f".{dest.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        report = _Reporter(progress, sum(sizes.get(rel, 0) for rel in manifest.files))
        for rel, digest in sorted(manifest.files.items()):
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            report.file = rel
            download_verified(store, name, version, rel, digest, staging / rel, on_bytes=report)
        write_atomic(staging / MANIFEST_FILE, manifest_raw)
        copy_signature(store, name, version, staging)  # model.sig, if signed
        if dest.exists():
            dest.rmdir()
        os.rename(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest
