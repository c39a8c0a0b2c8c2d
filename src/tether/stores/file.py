"""The local-folder store, the default: releases as plain folders any tool can read.

Layout::

    <root>/<name>/model-v1.0.1/...            the release's files, never changed once there
    <root>/<name>/model-v1.0.1.record/...     its mutable record (state.json, ...)
    <root>/<name>/.staging-<pid>-<random>/    a publish in progress (and its .lock)

A publish copies into a staging folder beside the final one, verifies the copies against
the release's MANIFEST.txt, fsyncs, and renames the folder into place. Renaming a folder
onto an existing non-empty one fails on every OS, so of two racing publishers exactly one
wins and the loser's staging folder is removed. A publisher killed half-way leaves its
staging folder behind; the next publish of that name removes it (tether.stores.staging).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from tether.atomic import fsync_dir, write_atomic
from tether.errors import (
    IntegrityError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StoreURLError,
)
from tether.hashing import sha256_files
from tether.manifest import MANIFEST_FILE, parse_manifest
from tether.names import RECORD_SUFFIX
from tether.paths import PUBLISH_HINT, check_name, check_relative_path, check_release_paths
from tether.stores.folder_layout import (
    check_plain,
    folder_root,
    open_plain,
    read_plain,
    record_rel,
    release_rel,
)
from tether.stores.staging import staging_folder
from tether.versioning import parse_version, release_tag


class FileStore:
    """A store in a local (or mounted network) folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = self.root.as_uri()

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    # --- paths -----------------------------------------------------------------------

    def _release_dir(self, name: str, version: str) -> Path:
        return self.root / check_name(name) / release_tag(version)

    def _existing_release_dir(self, name: str, version: str) -> Path:
        folder = self._release_dir(name, version)
        if not folder.is_dir():
            raise ReleaseNotFoundError(f"{self.url} has no release {name} {release_tag(version)}")
        where = f"{name} {release_tag(version)} in {self.url}"
        check_plain(self.root, release_rel(name, version), where=where)  # a link: refused
        return folder

    # --- reading ---------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if entry.is_dir() and not entry.name.startswith(".") and self.versions(entry.name)
        )

    def versions(self, name: str) -> list[str]:
        folder = self.root / check_name(name)
        if not folder.is_dir():
            return []
        found = []
        for entry in folder.iterdir():
            if entry.name.startswith("model-v") and not entry.name.endswith(RECORD_SUFFIX):
                try:
                    found.append(str(parse_version(entry.name.removeprefix("model-v"))))
                except ValueError:
                    continue  # not a release folder of ours
        return found

    def files(self, name: str, version: str) -> dict[str, int]:
        folder = self._existing_release_dir(name, version)
        where = f"{name} {release_tag(version)} in {self.url}"
        # a link or a FIFO in a release is crafted (publish copies plain files): refused,
        # never followed (tests/spine/test_crafted_releases.py)
        sizes = {}
        for root, dirs, names in os.walk(folder):
            for entry in (*dirs, *names):
                path = Path(root, entry)
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                    check_plain(self.root, path.relative_to(self.root).as_posix(), where=where)
            for file_name in names:
                path = Path(root, file_name)
                sizes[path.relative_to(folder).as_posix()] = path.lstat().st_size
        check_release_paths(sizes, where=where)
        return sizes

    def open_file(
        self, name: str, version: str, path: str, start: int = 0, end: int | None = None
    ) -> BinaryIO:
        # ``end`` is a hint a local file does not need: the caller stops reading there
        self._existing_release_dir(name, version)
        where = f"{name} {release_tag(version)}"
        rel = f"{release_rel(name, version)}/{check_relative_path(path, where=where)}"
        try:
            handle = open_plain(self.root, rel, where=f"{where} in {self.url}")
        except FileNotFoundError:
            raise ReleaseNotFoundError(
                f"release {name} {release_tag(version)} in {self.url} has no file {path}"
            ) from None
        handle.seek(start)
        return handle

    # --- writing ---------------------------------------------------------------------

    def publish(self, name: str, version: str, files: Mapping[str, Path]) -> None:
        final = self._release_dir(name, version)
        tag = release_tag(version)
        if final.exists():
            raise ReleaseExistsError(f"{self.url} already has {name} {tag}")
        final.parent.mkdir(parents=True, exist_ok=True)
        # locked while this process lives; a dead publish's staging goes (tether.stores.staging)
        with staging_folder(final.parent) as staging:
            self._stage(staging, files, where=f"{name} {tag}")
            try:
                os.rename(staging, final)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or final.exists():
                    raise ReleaseExistsError(
                        f"{self.url} already has {name} {tag} (another publisher won the race)"
                    ) from None
                raise
            fsync_dir(final.parent)

    def _stage(self, staging: Path, files: Mapping[str, Path], *, where: str) -> None:
        """Copy, fsync and verify against the MANIFEST.txt among ``files``."""
        check_release_paths(files, where=where, hint=PUBLISH_HINT)
        for rel, source in files.items():
            target = staging / check_relative_path(rel, where=where)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            with open(target, "rb+") as handle:
                os.fsync(handle.fileno())
        manifest = parse_manifest(
            (staging / MANIFEST_FILE).read_bytes(), where=f"{where} MANIFEST.txt"
        )
        digests = sha256_files([staging / rel for rel in manifest.files])
        bad = [rel for rel in manifest.files if digests[staging / rel] != manifest.files[rel]]
        if bad or set(manifest.files) | {MANIFEST_FILE} != set(files):
            raise IntegrityError(
                f"staged copy of {where} does not match its MANIFEST.txt: {', '.join(bad)}",
                "the source files changed during publish; publish again",
            )

    def read_record(self, name: str, version: str, key: str) -> bytes | None:
        where = f"record {key} of {name} {release_tag(version)} in {self.url}"
        return read_plain(self.root, record_rel(name, version, key), where=where)

    def write_record(self, name: str, version: str, key: str, data: bytes) -> None:
        self._existing_release_dir(name, version)
        write_atomic(self._record_path(name, version, key), data)

    def record_keys(self, name: str, version: str) -> list[str]:
        folder = self._record_path(name, version, "x").parent
        if not folder.is_dir():
            return []
        return sorted(  # dot-files are temp files of atomic writes
            Path(root, file_name).relative_to(folder).as_posix()
            for root, _dirs, names in os.walk(folder)
            for file_name in names
            if not file_name.startswith(".")
        )

    def _record_path(self, name: str, version: str, key: str) -> Path:
        folder = self._release_dir(name, version)
        return folder.with_name(folder.name + RECORD_SUFFIX) / check_relative_path(
            key, where="record key"
        )


def open_file_store(url: str) -> FileStore:
    """A FileStore for a plain path or a file:// URL."""
    root = folder_root(url)
    if root is None:
        raise StoreURLError(f"not a folder store URL: {url!r}", "use a path or file:///path")
    return FileStore(root)
