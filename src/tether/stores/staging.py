"""A folder store's staging folders: one per publish, locked while its publisher lives.

    <root>/<name>/.staging-<pid>-<hex>/            a publish in progress (its copies)
    <root>/<name>/.staging-<pid>-<hex>.lock        held by that publisher until it is done
    <root>/<name>/.staging-<pid>-<hex>.<hex>.removing/   a dead publish's copies, going

A publisher takes its lock before it creates its folder and lets go only after the folder was
renamed into place or removed, so a staging folder whose lock can be taken belongs to a
process that died (``kill -9``, a power cut): the next publish of that name removes it. It
first renames the folder aside, so a folder that is being renamed into a release can never
be emptied half-way (tests/spine/test_kill_publish.py).

The OS drops a dead holder's lock; on a network folder this needs a file system whose
locks work across machines (NFSv4, SMB). A staging folder without a lock file (made by a
tether before locks) counts as dead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tether.errors import LockTimeoutError
from tether.locking import file_lock
from tether.names import LOCK_SUFFIX, REMOVING_SUFFIX, STAGING_PREFIX

#: How long a new publisher waits for its own lock (a cleaner may hold it for a moment).
OWN_LOCK_TIMEOUT = 10.0


@contextmanager
def staging_folder(parent: Path) -> Iterator[Path]:
    """A fresh staging folder path in ``parent`` (not yet created), locked for the block and
    removed after it unless renamed away; leftovers of dead publishes are removed first."""
    remove_dead_staging(parent)
    folder = parent / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    lock = lock_path(folder)
    with file_lock(lock, timeout=OWN_LOCK_TIMEOUT):
        try:
            yield folder
        finally:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
            _unlink(lock)  # after the folder: a folder without its lock reads as dead
    _unlink(lock)  # Windows removes no file that is open, so once more when it is closed


def lock_path(folder: Path) -> Path:
    return folder.with_name(folder.name + LOCK_SUFFIX)


def remove_dead_staging(parent: Path) -> list[str]:
    """Remove the staging folders (and lock files) of dead publishes in ``parent``; a live
    publisher's are left alone. Returns the names removed."""
    try:
        entries = os.listdir(parent)
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed, bases = [], set()
    for entry in entries:
        if not entry.startswith(STAGING_PREFIX):
            continue
        if entry.endswith(REMOVING_SUFFIX):  # never renamed into a release: safe to remove
            shutil.rmtree(parent / entry, ignore_errors=True)
            removed.append(entry)
        else:
            bases.add(entry.removesuffix(LOCK_SUFFIX))
    for base in sorted(bases):
        if _remove_if_dead(parent / base):
            removed.append(base)
    return removed


def _remove_if_dead(folder: Path) -> bool:
    lock = lock_path(folder)
    try:
        inode = lock.stat().st_ino
    except FileNotFoundError:  # a staging folder from before locks
        return _discard(folder)
    try:
        with file_lock(lock, timeout=0):  # creates the file when its publisher just removed it
            try:
                if lock.stat().st_ino != inode:
                    _unlink(lock)  # that one is ours: its publisher is done
                    return False
            except FileNotFoundError:  # another cleaner removed it meanwhile
                return False
            if folder.exists():
                _discard(folder)  # its publisher locked before creating it, so it is dead
            elif _pid_alive(_pid_of(folder.name)):
                return False  # a publisher between creating its lock file and locking it
            _unlink(lock)
            return True
    except LockTimeoutError:
        return False  # a live publish


def _discard(folder: Path) -> bool:
    """Rename aside, then remove: a racing rename of the same folder into place wins or loses
    whole, and what is removed is never a release."""
    trash = folder.with_name(f"{folder.name}.{uuid.uuid4().hex[:8]}{REMOVING_SUFFIX}")
    try:
        os.rename(folder, trash)
    except OSError:  # gone (renamed into place, or removed by another cleaner), or in use
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def _pid_of(name: str) -> int | None:
    head = name.removeprefix(STAGING_PREFIX).split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _pid_alive(pid: int | None) -> bool:
    if pid is None or os.name == "nt":  # signal 0 means CTRL_C_EVENT on Windows: never send it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):  # Windows keeps an open file; the next publish removes it
        path.unlink(missing_ok=True)
