"""An exclusive inter-process lock on a file, so racing fetches and state changes take turns."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tether.errors import LockFileError, LockTimeoutError

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def file_lock(path: Path, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the ``with`` block.

    The operating system drops the lock when the holder dies, so a crash leaves no stale lock.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (OSError, ValueError) as exc:  # tests/test_cli_fuzz.py: a --profiles-dir too long
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LockFileError(f"cannot create lock file {path} ({reason})") from exc
    try:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise LockTimeoutError(f"timed out after {timeout:.0f} s waiting for lock {path}")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
