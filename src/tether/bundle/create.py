"""`tether bundle`: the pinned release (or with named pins, every pinned release) and the
declared assets, laid out for an app, verified.

Everything is built in a staging folder beside the destination: the release is fetched with
the same verified fetch as `tether fetch` (seeded from the project's own profile folder
when it already holds the pinned release, so nothing is downloaded twice; seeded files are
re-hashed all the same), assets are fetched or copied and hashed, the record is written, the
whole staging folder is verified, and only then renamed into place. A failure at any step
leaves the previous bundle as it was.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tether import __version__
from tether.atomic import fsync_dir, write_atomic
from tether.bundle.assets import AssetSpec, materialize
from tether.bundle.layout import (
    MODELS_DIR,
    RECORD_FILE,
    BundledAsset,
    BundledProfile,
    BundleRecord,
    is_state_file,
)
from tether.bundle.verify import verify_bundle
from tether.errors import ConfigError, ManifestError
from tether.names import TEMP_SUFFIX as STAGING_SUFFIX
from tether.paths import check_name
from tether.prepared import read_prepared
from tether.profile import read_profile
from tether.spine import Progress, TrustPolicy, fetch_release
from tether.stores.base import Store
from tether.versioning import release_tag

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundleResult:
    dest: Path
    record: BundleRecord
    files: int  # files verified in the bundle
    downloaded: list[str]
    reused: list[str]


def create_bundle(
    store: Store,
    name: str,
    version: str,
    dest: Path,
    *,
    variants: str = "both",
    assets: list[AssetSpec] | None = None,
    seed_from: Path | None = None,
    progress: Progress | None = None,
    trust: TrustPolicy | None = None,
) -> BundleResult:
    """Make ``dest`` a verified bundle of release ``version`` of ``name`` (and ``assets``).

    ``seed_from``: a local profile folder (``data/embedding_models/<name>``) whose files are
    copied in first and re-hashed, so that a release already fetched is not downloaded again.
    ``trust``: the project's signing policy, checked by the fetch exactly as `tether fetch`
    checks it (the release's model.sig is then bundled beside MANIFEST.txt).
    """
    return create_bundle_of(
        store,
        [BundleModel(name, version, seed_from)],
        dest,
        variants=variants,
        assets=assets,
        progress=(lambda _name, _version: progress) if progress else None,
        trust=trust,
    )


@dataclass(frozen=True)
class BundleModel:
    """One release a bundle holds; ``seed_from`` as for :func:`create_bundle`."""

    name: str
    version: str
    seed_from: Path | None = None


def create_bundle_of(
    store: Store,
    models: Sequence[BundleModel],
    dest: Path,
    *,
    variants: str = "both",
    assets: list[AssetSpec] | None = None,
    progress: Callable[[str, str], Progress | None] | None = None,
    trust: TrustPolicy | None = None,
) -> BundleResult:
    """:func:`create_bundle` of several releases (a project's named pins), each in its own
    profile folder of one bundle, verified together; ``progress(name, version)`` may give
    each fetch its byte-progress callback. Two releases of one profile id are refused: the
    runtime finds a profile by that id (tests/spine/test_named_pins.py)."""
    dest = Path(dest).absolute()
    _check_dest(dest)
    staging = dest.with_name(f".{dest.name}.{os.getpid()}{STAGING_SUFFIX}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    downloaded: list[str] = []
    reused: list[str] = []
    try:
        models_dir = staging / MODELS_DIR
        results = []
        for model in models:
            if model.seed_from is not None:
                _seed(model.seed_from, models_dir / model.name, release_tag(model.version))
            result = fetch_release(
                store,
                model.name,
                model.version,
                models_dir,
                variants=variants,
                progress=progress(model.name, model.version) if progress else None,
                trust=trust,
            )
            results.append((model, result))
            downloaded += result.downloaded
            reused += result.reused
        for entry in os.scandir(models_dir):  # fetch's lock and rollback state are not content
            if is_state_file(entry.name):  # its .tether/ folder (tether.spine.layout)
                shutil.rmtree(entry.path) if entry.is_dir() else os.unlink(entry.path)
        profiles = []
        for model, result in results:
            folder, profile_id = _rename_to_profile_id(result.folder, model.name)
            prepared = result.prepared
            profiles.append(
                BundledProfile(
                    path=f"{MODELS_DIR}/{folder.name}",
                    name=model.name,
                    profile_id=profile_id,
                    release=prepared.release,
                    store=prepared.store,
                    variants=list(prepared.variants),
                    manifest_sha256=prepared.manifest_sha256,
                )
            )
        bundled: list[BundledAsset] = []
        for spec in assets or []:
            bundled.append(materialize(spec, staging / spec.name))
        record = BundleRecord(tether=__version__, profiles=profiles, assets=bundled)
        write_atomic(staging / RECORD_FILE, record.to_json().encode("utf-8"))
        _make_readable(staging)
        (check,) = verify_bundle(staging, None, signature=trust)  # all of it, re-hashed
        _swap_in(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for profile in profiles:
        log.info("bundled %s %s into %s", profile.name, profile.release, dest)
    return BundleResult(dest, record, check.files, downloaded, reused)


def _check_dest(dest: Path) -> None:
    """Refuse to replace a folder that is not a tether bundle (it may be anything)."""
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"{dest} exists and is not a folder", "choose another --out")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / RECORD_FILE).is_file():
        raise ConfigError(
            f"{dest} is not empty and is not a tether bundle (no {RECORD_FILE})",
            "choose a new or empty --out folder; tether replaces only its own bundles",
        )


def _seed(source: Path, target: Path, release: str) -> None:
    """Copy a local profile folder's files when it holds ``release`` (they are re-hashed)."""
    try:
        prepared = read_prepared(source)
    except ManifestError:  # a malformed record: download instead
        return
    if prepared is None or prepared.release != release:
        return
    for rel in prepared.files:
        src = source / rel
        if src.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target / rel)
    log.info("seeded the bundle from %s", source)


def _rename_to_profile_id(folder: Path, name: str) -> tuple[Path, str | None]:
    """(folder, profile id): the runtime looks for ``embedding_models/<profile_id>``, so a
    release published under another name moves there. Generic artifacts keep their name."""
    try:
        profile_id = read_profile(folder).profile_id
    except (OSError, ManifestError):
        return folder, None
    if profile_id != folder.name:
        target = folder.with_name(check_name(profile_id))
        if target.exists():  # another bundled release: one folder per profile id
            raise ConfigError(
                f"{name} is profile {profile_id}, and the bundle already holds a folder "
                f"{target.name}",
                "a bundle holds one release per profile id: bundle one of them (--name)",
            )
        os.rename(folder, target)
        folder = target
    return folder, profile_id


def _make_readable(folder: Path) -> None:
    """Files 0644, folders 0755: temp-file writes are 0600, and an app installed by one
    user and run by another must read its model (PyInstaller resets modes; copies may not)."""
    for current, dirs, names in os.walk(folder):
        for name in dirs:
            os.chmod(Path(current, name), 0o755)
        for name in names:
            os.chmod(Path(current, name), 0o644)
    os.chmod(folder, 0o755)


def _swap_in(staging: Path, dest: Path) -> None:
    """Replace ``dest`` with ``staging``: old aside, new in, old removed."""
    old = dest.with_name(f".{dest.name}.{os.getpid()}.old")
    if dest.exists():
        os.rename(dest, old)
    try:
        os.rename(staging, dest)
    except BaseException:
        if old.exists():
            os.rename(old, dest)
        raise
    fsync_dir(dest.parent)
    shutil.rmtree(old, ignore_errors=True)
