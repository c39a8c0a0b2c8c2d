"""The local-folder store, the default: releases as plain folders any tool can read.

Layout::

    <root>/<name>/model-v1.0.1/...            the release's files, never changed once there
    <root>/<name>/model-v1.0.1.record/...     its mutable record (state.json, ...)
    <root>/<name>/.staging-<random>/          a publish in progress

A publish copies into a staging folder beside the final one, verifies the copies against
the release's MANIFEST.txt, fsyncs, and renames the folder into place. Renaming a folder
onto an existing non-empty one fails on every OS, so of two racing publishers exactly one
wins and the loser's staging folder is removed.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from tether.atomic import fsync_dir, write_atomic
from tether.errors import (
    IntegrityError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StoreURLError,
)
from tether.hashing import sha256_files
from tether.manifest import MANIFEST_FILE, parse_manifest
from tether.names import RECORD_SUFFIX, STAGING_PREFIX
from tether.paths import check_name, check_relative_path
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
        sizes = {}
        for root, _dirs, names in os.walk(folder):
            for file_name in names:
                path = Path(root, file_name)
                sizes[path.relative_to(folder).as_posix()] = path.stat().st_size
        return sizes

    def open_file(self, name: str, version: str, path: str, start: int = 0) -> BinaryIO:
        folder = self._existing_release_dir(name, version)
        target = folder / check_relative_path(path, where=f"{name} {release_tag(version)}")
        try:
            handle = open(target, "rb")  # noqa: SIM115 - the caller closes it
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
        staging = final.parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        try:
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
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _stage(self, staging: Path, files: Mapping[str, Path], *, where: str) -> None:
        """Copy, fsync and verify against the MANIFEST.txt among ``files``."""
        for rel, source in files.items():
            target = staging / check_relative_path(rel, where=where)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            with open(target, "rb+") as handle:
                os.fsync(handle.fileno())
        manifest = parse_manifest(
            (staging / MANIFEST_FILE).read_text(encoding="utf-8"), where=f"{where} MANIFEST.txt"
        )
        digests = sha256_files([staging / rel for rel in manifest.files])
        bad = [rel for rel in manifest.files if digests[staging / rel] != manifest.files[rel]]
        if bad or set(manifest.files) | {MANIFEST_FILE} != set(files):
            raise IntegrityError(
                f"staged copy of {where} does not match its MANIFEST.txt: {', '.join(bad)}",
                "the source files changed during publish; publish again",
            )

    def read_record(self, name: str, version: str, key: str) -> bytes | None:
        path = self._record_path(name, version, key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

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
    if "://" not in url:
        return FileStore(Path(url))
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        raise StoreURLError(f"file URL {url!r} names a remote host {parsed.netloc!r}")
    return FileStore(Path(unquote(parsed.path)))
