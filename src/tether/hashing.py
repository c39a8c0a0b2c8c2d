"""sha256 of files, many at once, and of streams while they are copied.

hashlib releases the GIL for updates of 2 KiB or more, so threads hash files in parallel
across cores (2 files on 2 threads: 2.7 GB/s here, against 1.35 GB/s for one and 0.25 GB/s
for coreutils' sha256sum), and a download can be hashed on one core while it is received
and written on the other.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from tether.errors import ManifestError

if TYPE_CHECKING:
    from hashlib import _Hash

CHUNK_SIZE = 1 << 20  # 1 MiB: large enough that hashlib releases the GIL, small in memory

#: Called with the number of bytes just hashed; used for progress bars.
Progress = Callable[[int], None]


#: Buffers a copy may have in flight between its writer and its hasher (1 MiB each).
COPY_BUFFERS = 8


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


def sha256_stream(stream: Readable, progress: Progress | None = None) -> str:
    """Hex sha256 of a stream, read in 1 MiB chunks into one reused buffer."""
    digest = hashlib.sha256()
    view = memoryview(bytearray(CHUNK_SIZE))
    while n := stream.readinto(view):
        digest.update(view[:n])
        if progress is not None:
            progress(n)
    return digest.hexdigest()


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """Hex sha256 of a file."""
    with open(path, "rb", buffering=0) as handle:
        return sha256_stream(handle, progress)


def copy_hashing(
    source: Readable, target: BinaryIO, digest: _Hash, progress: Progress | None = None
) -> None:
    """Copy ``source`` to ``target`` while ``digest`` takes the same bytes on a helper thread.

    One core's sha256 (1.8 GB/s here) is about as slow as receiving and writing together,
    so the two run side by side, passing a ring of reused buffers: a new 1 MiB bytes
    object per chunk, as iterating a response gives, cost more in page faults than the
    hashing itself (BENCHMARKS.md). Each chunk is written before it is hashed, so when
    this returns, also by an exception from ``source``, ``digest`` has taken exactly the
    bytes written and the caller can resume from ``target.tell()``.
    """
    import queue  # not on the no-op fetch path
    import threading

    free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
    for _ in range(COPY_BUFFERS):
        free.put(memoryview(bytearray(CHUNK_SIZE)))
    filled: queue.SimpleQueue[tuple[memoryview, int] | None] = queue.SimpleQueue()

    def hash_filled() -> None:
        while (item := filled.get()) is not None:
            buffer, n = item
            digest.update(buffer[:n])
            free.put(buffer)

    hasher = threading.Thread(target=hash_filled, name="tether-hash", daemon=True)
    hasher.start()
    try:
        while True:
            buffer = free.get()
            n = source.readinto(buffer)
            if not n:
                break
            target.write(buffer[:n])
            filled.put((buffer, n))
            if progress is not None:
                progress(n)
    finally:
        filled.put(None)
        hasher.join()


def sha256_files(
    paths: Iterable[Path], *, workers: int | None = None, progress: Progress | None = None
) -> dict[Path, str]:
    """Hex sha256 of each file, hashed in parallel (one thread per core by default)."""
    paths = list(paths)
    if not paths:
        return {}
    workers = workers or min(len(paths), os.cpu_count() or 1)
    if workers == 1:
        return {path: sha256_file(path, progress) for path in paths}
    from concurrent.futures import ThreadPoolExecutor  # not on the no-op fetch path

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tether-hash") as pool:
        digests = pool.map(lambda p: sha256_file(p, progress), paths)
        return dict(zip(paths, digests, strict=True))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def list_files(folder: Path) -> list[str]:
    """Relative POSIX paths of the regular files below ``folder``, sorted; links refused."""
    folder = Path(folder)
    found = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in [*dirs, *names]:  # os.walk would skip a linked folder silently
            path = Path(root, name)
            if path.is_symlink():
                raise ManifestError(
                    f"{path} is a symbolic link: a release folder holds plain files "
                    "(links are never read through: tests/spine/test_crafted_releases.py)",
                    "copy the folder with its links resolved (cp -rL SRC DIR; e.g. a Hugging "
                    "Face snapshot) and use the copy",
                )
        found.extend(Path(root, name).relative_to(folder).as_posix() for name in names)
    return sorted(found)


def tree_digest(folder: Path, exclude: Callable[[str], bool] = lambda rel: False) -> str:
    """``sha256:<hex>`` over a folder's sorted relative paths and their file digests.

    Used as the revision of a local source folder: any change of a name or a byte changes it.
    """
    folder = Path(folder)
    rels = [rel for rel in list_files(folder) if not exclude(rel)]
    digests = sha256_files([folder / rel for rel in rels])
    return listing_digest({rel: digests[folder / rel] for rel in rels})


def listing_digest(digests: dict[str, str]) -> str:
    """``sha256:<hex>`` of a file listing in sha256sum form (sorted by path)."""
    lines = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(digests.items()))
    return "sha256:" + sha256_bytes(lines.encode("utf-8"))
