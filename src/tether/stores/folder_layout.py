"""Where the folder store keeps a release and its record, and how it reads them: no link followed.

Light on purpose: a no-op `tether fetch` reads a release's state record through it without
opening the store (tether.spine.pinned); tether.stores.file builds on it.

A folder store is a folder anyone with write access can shape, so every read goes one
path segment at a time below the store's root and refuses a symbolic link, or anything but
a regular file, where a release file or record should be
(tests/spine/test_crafted_releases.py::test_symlink_out_of_a_folder_store_is_never_read).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from tether.errors import IntegrityError, StoreURLError
from tether.names import RECORD_SUFFIX
from tether.paths import check_name, check_relative_path
from tether.versioning import release_tag

_LINK_HINT = "the store was tampered with: remove the link from it, or pin another release"


def folder_root(url: str) -> Path | None:
    """The folder of a folder-store URL (a plain path or file://), None for other schemes."""
    if "://" not in url:
        return Path(url).expanduser().absolute()
    parsed = urlparse(url)
    if parsed.scheme.lower() != "file":
        return None
    if parsed.netloc not in ("", "localhost"):
        raise StoreURLError(f"file URL {url!r} names a remote host {parsed.netloc!r}")
    return Path(unquote(parsed.path)).expanduser().absolute()


def release_rel(name: str, version: str) -> str:
    """``<name>/model-v<version>``: a release's folder below the store's root."""
    return f"{check_name(name)}/{release_tag(version)}"


def record_rel(name: str, version: str, key: str) -> str:
    """``<name>/model-v<version>.record/<key>``: a record document below the store's root."""
    key = check_relative_path(key, where="record key")
    return f"{release_rel(name, version)}{RECORD_SUFFIX}/{key}"


def not_plain(root: Path, rel: str) -> str | None:
    """Why ``root/rel`` is not a plain file or folder reached without links, None when it is
    (or when it does not exist)."""
    path = Path(root)
    for part in rel.split("/"):
        path = path / part
        try:
            mode = path.lstat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(mode):
            return f"{path} is a symbolic link"
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            return f"{path} is not a regular file"
    return None


def check_plain(root: Path, rel: str, *, where: str) -> None:
    """Raise IntegrityError when a segment of ``root/rel`` is a link or not a plain file/folder."""
    if not_plain(root, rel) is not None:
        raise _refused(root, rel, where)


def _refused(root: Path, rel: str, where: str) -> IntegrityError:
    reason = not_plain(root, rel) or f"{Path(root, rel)} is not a regular file"
    return IntegrityError(
        f"{where}: {reason}; a folder store holds plain files and tether never reads through "
        "a link",
        _LINK_HINT,
    )


def open_plain(root: Path, rel: str, *, where: str) -> BinaryIO:
    """``root/rel`` opened for reading, following no symbolic link below ``root``.

    FileNotFoundError when absent; IntegrityError when a segment is a link or the file is
    not a regular one (a FIFO would block the reader for ever).
    """
    parts = rel.split("/")
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    flags = os.O_RDONLY | nofollow | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        if nofollow and os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY"):
            fd = _open_below(Path(root), parts, flags)
        else:  # no openat: check each segment, then open (a narrow race, on Windows only)
            if not_plain(root, rel) is not None:
                raise _refused(root, rel, where)
            fd = os.open(Path(root, rel), flags)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise
        if not_plain(root, rel) is None:  # a file where a folder should be: no such file
            raise FileNotFoundError(errno.ENOENT, "no such file", str(Path(root, rel))) from None
        raise _refused(root, rel, where) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refused(root, rel, where)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _open_below(root: Path, parts: list[str], flags: int) -> int:
    """openat() one segment at a time: a link swapped in after a check is refused too."""
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            below = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            os.close(directory)
            directory = below
        return os.open(parts[-1], flags, dir_fd=directory)
    finally:
        os.close(directory)


def read_plain(root: Path, rel: str, *, where: str) -> bytes | None:
    """A small file's bytes (a record document), None when it does not exist."""
    try:
        with open_plain(root, rel, where=where) as handle:
            return handle.read()
    except FileNotFoundError:
        return None
