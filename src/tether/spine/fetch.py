"""Fetch a release into a profile folder: exactly its bytes, verified, or nothing at all.

One transaction, under a lock in fetch's state folder (tether.spine.layout), with the
project's trust policy as one guard around it (tether.spine.trust.FetchGuard):

1. check: the release is usable, its MANIFEST parses and lists only files one folder can
   hold (tether.paths.check_release_paths: no reserved name, no path twice, none both a
   file and a folder), the guard accepts its signature and version. Nothing is written
   before.
2. build: the next profile folder is built whole in fetch's state folder, on the profile
   folder's filesystem. Files the current folder already holds right (re-hashed) are
   hard-linked (copied where links fail), files a dead fetch left are reused (a partial one
   continues with a ranged read), the rest is downloaded, hashed while it is written; then
   MANIFEST.txt, model.sig, and .prepared.json last.
3. swap: the complete folder and the current one trade places in one atomic step
   (renameat2 RENAME_EXCHANGE on Linux, renamex_np RENAME_SWAP on macOS; elsewhere two
   renames, and a fetch that died between them is undone by the next one); the old folder
   is deleted, its .prepared.json first. The guard then records what it verified.

So any pin change (a folder ``sub/`` that becomes a file ``sub`` included) activates in
one step, nothing is planned against the live folder, and a fetch killed at any moment
leaves the old profile active or the new one complete (tests/spine/test_kill_fetch.py).
Racing fetches take turns on the lock; the second finds the work done. A no-op reads no
file, but asks the store for the release's state record: a withdrawn pin fails.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tether.atomic import fsync_dir, write_atomic
from tether.errors import (
    IntegrityError,
    InvalidVariantError,
    ManifestError,
    StoreUnavailableError,
)
from tether.hashing import CHUNK_SIZE, copy_hashing, sha256_bytes, sha256_file, sha256_files
from tether.locking import file_lock
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest
from tether.names import PROFILE_FILE, SIGNATURE_FILE, TEMP_SUFFIX, TEST_KILL_ENV
from tether.paths import check_name, check_release_paths
from tether.prepared import (
    PREPARED_FILE,
    VARIANT_CHOICES,
    Prepared,
    PreparedFile,
    read_prepared,
    write_prepared,
)
from tether.profile import Profile
from tether.spine.catalog import read_manifest, release_info, require_usable
from tether.spine.layout import (
    FetchResult,
    Progress,
    already_fetched,
    discard,
    lock_path,
    new_parts_dir,
    old_parts_dir,
    profile_folder,
    site,
    stale_parts,
    still_usable,
    sweep_dead,
)
from tether.spine.transfer import (
    Job,
    download_parallel,
    recorded_prefix,
    streams_for,
    streams_forced,
)
from tether.spine.trust import FetchGuard, TrustPolicy, fetch_guard
from tether.stores.base import Store, read_bytes
from tether.stores.folder_layout import not_plain
from tether.versioning import normalize_version, release_tag

log = logging.getLogger(__name__)

RESUME_ATTEMPTS = 3

# Test-only (tests/spine/test_kill_fetch.py): TETHER_TEST_KILL_AT=N makes this process
# SIGKILL itself at its N-th step (a chunk written, a file placed, a step of the swap), so
# a test can kill a fetch at a chosen moment. Unset, a step costs one comparison.
_KILL_ENV = os.environ.get(TEST_KILL_ENV, "")
_KILL_AT = int(_KILL_ENV) if _KILL_ENV.isdigit() else 0
_steps = 0


def _step() -> None:
    global _steps
    if _KILL_AT:
        _steps += 1
        if _steps == _KILL_AT:
            import signal  # test-only

            os.kill(os.getpid(), signal.SIGKILL)


def fetch_release(
    store: Store,
    name: str,
    version: str,
    dest_root: Path,
    *,
    variants: str = "both",
    progress: Progress | None = None,
    trust: TrustPolicy | None = None,
    repair: bool = False,
    streams: int | None = None,
) -> FetchResult:
    """Make ``<dest_root>/<name>/`` hold release ``version`` for ``variants``, verified.

    A folder that already holds it is left as it is (stat-only, no file read) unless the
    release was withdrawn (ReleaseWithdrawnError). ``repair``: re-hash every file even
    then, and replace whatever does not match. With a ``trust`` policy the release's
    signature and version are checked first (tether.spine.trust). ``streams``: the most
    concurrent ranged downloads (default $TETHER_STREAMS, else 8; tether.spine.transfer
    uses one where one is enough).
    """
    name, version = check_name(name), normalize_version(version)
    if variants not in VARIANT_CHOICES:
        raise InvalidVariantError(f"unknown variant {variants!r}")
    guard = fetch_guard(trust, dest_root)
    done = (
        None
        if repair
        else already_fetched(dest_root, name, version, variants, guard.accepts_prepared)
    )
    if done is not None:
        sweep_dead(dest_root, name)
        return still_usable(store, done)
    with file_lock(lock_path(dest_root, name)):
        # a racing fetch may have done the work while this one waited
        if not repair:
            done = already_fetched(dest_root, name, version, variants, guard.accepts_prepared)
            if done is not None:
                for path in stale_parts(site(dest_root, name)[1], name):  # dead fetches'
                    discard(path)
                return still_usable(store, done)
        return _fetch_locked(
            store, name, version, Path(dest_root), variants, progress, guard, repair, streams
        )


def _fetch_locked(
    store: Store,
    name: str,
    version: str,
    dest_root: Path,
    variants: str,
    progress: Progress | None,
    guard: FetchGuard,
    repair: bool,
    streams: int | None = None,
) -> FetchResult:
    folder = profile_folder(dest_root, name)
    live, state = site(dest_root, name)
    stale = _restore_if_missing(live, stale_parts(state, name))

    # 1. check, before anything is written
    where = f"{name} {release_tag(version)} in {store.url}"
    require_usable(release_info(store, name, version))
    manifest, manifest_raw = read_manifest(store, name, version)
    sizes = store.files(name, version)
    check_listing(manifest, sizes, where)
    chosen, wanted = select_files(store, manifest, variants)
    verdict = guard.check_release(store, name, version, manifest_raw, sizes)
    missing = sorted(rel for rel in wanted if rel not in sizes)
    if missing:
        raise IntegrityError(
            f"{name} {release_tag(version)} in {store.url} lacks files its MANIFEST lists",
            problems=[f"missing: {rel}" for rel in missing],
        )
    record = Prepared(
        store=store.url,
        name=name,
        release=release_tag(version),
        manifest_sha256=sha256_bytes(manifest_raw),
        variants=chosen,
        files={rel: PreparedFile(sizes[rel], manifest.files[rel]) for rel in wanted},
    )
    _refuse_changed_release(live, record, where)

    # 2. build the next profile folder beside the current one
    state.mkdir(parents=True, exist_ok=True)
    parts = new_parts_dir(state, name)
    parts.mkdir()
    current: str | None = None
    keep_parts = False
    try:
        reused = _link_reusable(live, parts, wanted, manifest)
        needed = [rel for rel in wanted if rel not in reused]
        salvaged, partial = _salvage(stale, parts, needed, manifest, sizes)
        to_download = [rel for rel in needed if rel not in salvaged]
        total = sum(sizes[rel] for rel in to_download) - sum(partial.values())
        report = _Reporter(progress, total)
        jobs = [
            Job(rel, sizes[rel], manifest.files[rel], _part(parts, rel), partial.get(rel, 0))
            for rel in to_download
        ]
        failed: list[str] = []
        try:
            resumed = _download_all(store, name, version, jobs, report, streams, failed)
        finally:
            current = failed[0] if failed else None
        current = None
        _check_sizes(parts, wanted, sizes, where)
        signed = guard.signed_files(verdict)  # model.sig, once verified
        for rel, data in signed.items():
            write_atomic(parts / rel, data)
        write_atomic(parts / MANIFEST_FILE, manifest_raw)
        write_prepared(parts, record)  # last: from here the folder is complete
        _fsync_folders(parts)
        _step()

        # 3. swap it in (unless a repair found nothing to change), then let the guard record
        removed = _removed(live, set(record.files) | {MANIFEST_FILE, PREPARED_FILE, *signed})
        clean = repair and not to_download and not salvaged and not removed
        changed = not (
            clean and _same_records(live, parts, [MANIFEST_FILE, PREPARED_FILE, *signed])
        )
        if changed:
            left = _swap(parts, live)
            parts = left if left is not None else parts
        guard.activated(verdict)
    except IntegrityError as exc:  # a signed file whose bytes differ was changed after signing
        guard.raise_if_signed(verdict, current, exc)
        raise
    except (StoreUnavailableError, ConnectionError, TimeoutError):
        keep_parts = True  # what arrived stays for the next fetch to resume from
        raise
    finally:
        _step()
        if not keep_parts:
            discard(parts)
        for path in stale:
            discard(path)
    log.info("fetched %s %s into %s", name, release_tag(version), folder)
    return FetchResult(
        folder,
        record,
        changed,
        to_download,
        sorted([*reused, *salvaged]),
        removed,
        resumed=resumed,
        verified=repair,
    )


def check_listing(manifest: Manifest, sizes: dict[str, int], where: str) -> None:
    """Refuse a release whose MANIFEST or store listing no folder can hold as it says."""
    if MANIFEST_FILE in manifest.files:
        raise ManifestError(
            f"{where}: its {MANIFEST_FILE} lists itself",
            "the release was tampered with or badly made; do not use it",
        )
    check_release_paths(manifest.files, where=f"{where} {MANIFEST_FILE}")
    check_release_paths(sizes, where=where)  # every store checks its own; a new one may not
    bad = next((rel for rel, size in sizes.items() if not isinstance(size, int) or size < 0), None)
    if bad is not None:
        raise ManifestError(
            f"{where}: the store lists {bad} with size {sizes[bad]!r}",
            "the store's listing was tampered with; do not use this release",
        )


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
    where = f"profile.json of {manifest.name} {manifest.label}"
    declared = Profile.from_bytes(raw, where=where).variant_files(manifest.files)
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


def _refuse_changed_release(live: Path, record: Prepared, where: str) -> None:
    """The folder holds this release from this store, by another MANIFEST: releases never
    change, so the store's copy was (tests/spine/test_crafted_releases.py)."""
    try:
        held = read_prepared(live)
    except (ManifestError, OSError):
        return
    if (
        held is None
        or (held.store, held.name, held.release) != (record.store, record.name, record.release)
        or held.manifest_sha256 == record.manifest_sha256
    ):
        return
    raise IntegrityError(
        f"{where} is not the release {live} was fetched from: its {MANIFEST_FILE} changed "
        f"(sha256 {record.manifest_sha256[:12]}..., fetched {held.manifest_sha256[:12]}...)",
        f"releases never change, so the store's copy was altered: check the store; to take "
        f"it anyway, delete {live} and fetch again",
    )


def _plain_file(path: Path) -> bool:
    """A regular file, not a link (a profile folder's links are not reused)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _link_reusable(live: Path, parts: Path, wanted: list[str], manifest: Manifest) -> list[str]:
    """Files of the live folder that re-hash to their MANIFEST digest, placed into ``parts``
    (local reads beat downloads)."""
    present = [rel for rel in wanted if not_plain(live, rel) is None and _plain_file(live / rel)]
    digests = sha256_files([live / rel for rel in present])
    reused = []
    for rel in present:
        if digests[live / rel] == manifest.files[rel] and _place(live / rel, _part(parts, rel)):
            reused.append(rel)
            _step()
    return reused


def _place(source: Path, target: Path) -> bool:
    """A hard link of a verified file (the live folder keeps its own), else a checked copy."""
    try:
        os.link(source, target)
        return True
    except OSError:
        pass  # no hard links here (FAT, some network filesystems) or not allowed: copy
    expected = sha256_file(source)
    shutil.copyfile(source, target)
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())
    if sha256_file(target) == expected:
        return True
    target.unlink(missing_ok=True)
    return False


def _salvage(
    stale: list[Path], parts: Path, needed: list[str], manifest: Manifest, sizes: dict[str, int]
) -> tuple[list[str], dict[str, int]]:
    """Files dead fetches left in ``stale``, moved into ``parts``: (complete ones that re-hash
    right, {partial one: its size} to resume from)."""
    complete: list[tuple[str, Path]] = []
    partial: dict[str, Path] = {}
    for rel in needed:
        for folder in stale:
            path = folder / rel
            if not_plain(folder, rel) is not None or not _plain_file(path):
                continue
            size = _trusted_size(path)
            if size == sizes[rel]:
                complete.append((rel, path))
            elif 0 < size < sizes[rel] and size > _size(partial.get(rel)):
                partial[rel] = path
    digests = sha256_files([path for _, path in complete])
    salvaged: list[str] = []
    for rel, path in complete:
        if rel not in salvaged and digests[path] == manifest.files[rel]:
            os.replace(path, _part(parts, rel))
            salvaged.append(rel)
            _step()
    resumable = {}
    for rel, path in partial.items():
        if rel not in salvaged:
            resumable[rel] = _trusted_size(path)
            target = _part(parts, rel)
            os.replace(path, target)
            os.truncate(target, resumable[rel])  # a ranged file's holes past its prefix go
    return salvaged, resumable


def _size(path: Path | None) -> int:
    return _trusted_size(path) if path is not None else 0


def _trusted_size(path: Path) -> int:
    """How much of a dead fetch's file is its start: all of a file written in order, the
    recorded verified prefix of one written in ranges (tether.spine.transfer)."""
    size = path.lstat().st_size
    recorded = recorded_prefix(path)
    return size if recorded is None else min(size, recorded)


def _part(parts: Path, rel: str) -> Path:
    path = parts / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _check_sizes(parts: Path, wanted: list[str], sizes: dict[str, int], where: str) -> None:
    """Every file is as long as the store lists it: .prepared.json records those sizes."""
    for rel in wanted:
        actual = (parts / rel).stat().st_size
        if actual != sizes[rel]:
            raise IntegrityError(
                f"{rel} of {where} is {actual} bytes, but the store lists {sizes[rel]}",
                "the store's listing was tampered with; do not use this release",
            )


def download_verified(
    store: Store,
    name: str,
    version: str,
    rel: str,
    expected_sha256: str,
    target: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
    resume: bool = False,
) -> int:
    """Stream one release file into ``target``, hashing as it goes; resume after a dropped
    connection with a ranged read. Raises IntegrityError (and deletes ``target``) when the
    bytes do not match. ``on_bytes`` is called with the size of each chunk written.

    ``resume``: ``target`` already holds the start of the file (a dead fetch's partial
    download): that prefix is hashed, the download continues after it, and the whole is
    checked; should it not match, the file is downloaded again from byte 0. Returns the
    number of bytes kept from ``target``.
    """
    digest = hashlib.sha256()
    kept = _hash_prefix(target, digest) if resume else 0
    attempts = 0
    with open(target, "r+b" if kept else "wb") as handle:
        handle.seek(kept)
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
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
    if digest.hexdigest() != expected_sha256:
        target.unlink(missing_ok=True)
        if kept:
            log.warning("%s: the part a dead fetch left was not its start; downloading it all", rel)
            return download_verified(
                store, name, version, rel, expected_sha256, target, on_bytes=on_bytes
            )
        raise IntegrityError(
            f"{rel} of {name} {release_tag(version)} does not match its MANIFEST digest "
            f"(got {digest.hexdigest()[:12]}..., expected {expected_sha256[:12]}...)",
            "the store's copy is corrupt or was tampered with; nothing was activated",
        )
    return kept


def _hash_prefix(target: Path, digest: hashlib._Hash) -> int:
    """Feed ``target``'s bytes to ``digest``; their count (0 when there is no file)."""
    try:
        handle = open(target, "rb", buffering=0)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return 0
    with handle:
        view = memoryview(bytearray(CHUNK_SIZE))
        count = 0
        while n := handle.readinto(view):
            digest.update(view[:n])
            count += n
    return count


def _download_all(
    store: Store,
    name: str,
    version: str,
    jobs: list[Job],
    report: _Reporter,
    streams: int | None,
    failed: list[str],
) -> list[str]:
    """Download ``jobs``: as parallel ranges where they pay (tether.spine.transfer), else one
    file after another on one stream. Returns the files resumed from a dead fetch's prefix;
    ``failed`` holds the file whose bytes did not match when IntegrityError is raised."""
    total = sum(job.size - job.kept for job in jobs)
    count = streams_for(store, total, streams, forced=streams_forced(streams))
    if count > 1:
        report.file = ""  # several files at once
        return download_parallel(
            store, name, version, jobs, streams=count, on_bytes=report,
            on_mismatch=failed.append,
        )  # fmt: skip
    resumed = []
    for job in jobs:
        report.file = job.rel
        failed[:] = [job.rel]
        resume = job.kept > 0
        if download_verified(
            store, name, version, job.rel, job.sha256, job.target, on_bytes=report, resume=resume
        ):
            resumed.append(job.rel)
    failed.clear()
    return resumed


class _Reporter:
    """Turns per-chunk byte counts, from any stream's thread, into (file, done, total)
    progress reports over the whole download."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done, self.file = progress, total, 0, ""
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self.progress is not None:
                self.progress(self.file, self.done, self.total)
        _step()


# --- the swap -------------------------------------------------------------------------------


def _walk_files(folder: Path) -> list[str]:
    """Relative paths of everything but folders below ``folder`` (links not followed)."""
    found = []
    for root, dirs, names in os.walk(folder):
        found += [Path(root, n).relative_to(folder).as_posix() for n in names]
        found += [
            Path(root, d).relative_to(folder).as_posix() for d in dirs if Path(root, d).is_symlink()
        ]
    return sorted(found)


def _removed(live: Path, keep: set[str]) -> list[str]:
    """What the swap takes away: the live folder's files the new folder does not hold."""
    return [rel for rel in _walk_files(live) if rel not in keep] if live.is_dir() else []


def _same_records(live: Path, parts: Path, names: list[str]) -> bool:
    """Whether the live folder's MANIFEST.txt, .prepared.json and model.sig equal the new."""
    for file_name in names:
        try:
            if (live / file_name).read_bytes() != (parts / file_name).read_bytes():
                return False
        except OSError:
            return False
    return True


def _fsync_folders(parts: Path) -> None:
    """Make the new folder's entries durable before it is swapped in (its files are)."""
    for root, _dirs, _names in os.walk(parts):
        fsync_dir(Path(root))


def _swap(parts: Path, live: Path) -> Path | None:
    """Put the complete folder ``parts`` at ``live``; returns where the old one now is."""
    live.parent.mkdir(parents=True, exist_ok=True)
    if not os.path.lexists(live):
        os.rename(parts, live)
        fsync_dir(live.parent)
        _step()
        return None
    _step()
    if _exchange(parts, live):
        fsync_dir(live.parent)
        fsync_dir(parts.parent)
        _step()
        return parts  # it holds the old folder now
    aside = old_parts_dir(parts)
    os.rename(live, aside)
    # killed here, live is missing: the next fetch puts `aside` back (_restore_if_missing)
    _step()
    try:
        os.rename(parts, live)
    except BaseException:
        os.rename(aside, live)
        raise
    fsync_dir(live.parent)
    fsync_dir(aside.parent)
    _step()
    return aside


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step; False where the OS or filesystem cannot."""
    if sys.platform.startswith("linux"):
        call, flag = "renameat2", 2  # RENAME_EXCHANGE
    elif sys.platform == "darwin":
        call, flag = "renamex_np", 2  # RENAME_SWAP
    else:
        return False
    import ctypes  # only at a swap, never on the no-op path

    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), call)
    except (OSError, AttributeError):  # an old C library
        return False
    function.restype = ctypes.c_int
    if call == "renameat2":
        at_fdcwd = -100
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
        function.argtypes += [ctypes.c_uint]
        result = function(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), flag)
    else:
        function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        result = function(os.fsencode(a), os.fsencode(b), flag)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # e.g. a filesystem without exchange: two renames instead
    raise OSError(code, os.strerror(code), str(b))


def _complete(folder: Path) -> bool:
    """Stat-only: ``folder`` has a .prepared.json and every file it lists, of its size."""
    try:
        prepared = read_prepared(folder)
        return (
            prepared is not None
            and (folder / MANIFEST_FILE).is_file()
            and all((folder / rel).stat().st_size == e.size for rel, e in prepared.files.items())
        )
    except (ManifestError, OSError):
        return False


def _restore_if_missing(live: Path, stale: list[Path]) -> list[Path]:
    """A fetch that died between the two renames of a swap left no folder at ``live``: put
    the folder it moved aside (or had completed) back. Returns the stale folders left."""
    if os.path.lexists(live):
        return stale
    for candidate in stale:  # folders moved aside come first (tether.spine.layout)
        if _complete(candidate):
            os.rename(candidate, live)
            fsync_dir(live.parent)
            log.warning("%s: put back the profile folder a dead fetch left in %s", live, candidate)
            return [path for path in stale if path != candidate]
    return stale


# --- download -------------------------------------------------------------------------------


def download_release(
    store: Store,
    name: str,
    version: str,
    dest: Path,
    *,
    progress: Progress | None = None,
    streams: int | None = None,
) -> Path:
    """A verified copy of a whole release (MANIFEST.txt included) in a new folder ``dest``
    (``streams`` as for fetch_release)."""
    version = normalize_version(version)
    dest = Path(dest)
    _refuse_occupied(dest)
    manifest, manifest_raw = read_manifest(store, name, version)
    sizes = store.files(name, version)
    check_listing(manifest, sizes, f"{name} {release_tag(version)} in {store.url}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_downloads(dest)
    staging = dest.with_name(f".{dest.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        report = _Reporter(progress, sum(sizes.get(rel, 0) for rel in manifest.files))
        jobs = [
            Job(rel, sizes.get(rel, 0), digest, _part(staging, rel))
            for rel, digest in sorted(manifest.files.items())
        ]
        _download_all(store, name, version, jobs, report, streams, [])
        write_atomic(staging / MANIFEST_FILE, manifest_raw)
        signature = store.read_record(name, version, SIGNATURE_FILE)
        if signature is not None:  # copied unchecked: a download is checked by whoever uses it
            write_atomic(staging / SIGNATURE_FILE, signature)
        if dest.exists():
            dest.rmdir()
        os.rename(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _refuse_occupied(dest: Path) -> None:
    """``dest`` must be new or an empty folder; otherwise say, in plain words, what is there."""
    if not os.path.lexists(dest):
        return
    if not dest.is_dir():
        raise IntegrityError(f"{dest} is not empty: it is a file", "choose an empty --into folder")
    entries = sorted(os.listdir(dest))
    if not entries:
        return
    raise IntegrityError(
        f"{dest} is not empty: it already holds {_what_is_in(dest, entries)}",
        "choose an empty --into folder",
        problems=[],
    )


def _what_is_in(dest: Path, entries: list[str]) -> str:
    try:
        prepared = read_prepared(dest)
    except ManifestError:
        prepared = None
    if prepared is not None:
        return f"{prepared.name} {prepared.release} (a profile folder)"
    try:
        held = parse_manifest((dest / MANIFEST_FILE).read_bytes(), where=str(dest))
        return f"{held.name} {held.label}"
    except (OSError, ManifestError):
        pass
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    return f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} ({shown})"


def _remove_dead_downloads(dest: Path) -> None:
    """Staging folders of downloads into ``dest`` whose process died (this host's pids)."""
    if os.name == "nt":  # os.kill(pid, 0) would signal the process there
        return
    prefix = f".{dest.name}."
    for entry in os.scandir(dest.parent):
        middle = entry.name[len(prefix) : -len(TEMP_SUFFIX)]
        if entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX) and middle.isdigit():
            try:
                os.kill(int(middle), 0)
            except ProcessLookupError:
                shutil.rmtree(entry.path, ignore_errors=True)
            except OSError:
                pass  # alive, another user's
