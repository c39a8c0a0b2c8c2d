"""The Store protocol: where immutable releases live, whatever the backend.

A store holds releases grouped by *name* (a profile id such as ``local-text-retrieval-v1``
or any artifact name). A release ``model-v<semver>`` is a set of files, listed with their
sha256 in its MANIFEST.txt, that never changes once published. Beside each release the
store keeps a mutable *record*: small named documents (``state.json`` and, later, EVAL.json
or signatures) that may change without touching the release's files.

Backends implement the small set of primitives below; everything else (verification,
state history, resume) is written once, above them, in tether.release and tether.fetch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["CHUNK_SIZE", "Store", "read_bytes"]

#: Size of the chunks stores stream in: large enough that hashing them releases the GIL.
CHUNK_SIZE = 1 << 20


@runtime_checkable
class Store(Protocol):
    """What every store backend provides."""

    #: The URL the store was opened from, as shown to users and written into .prepared.json.
    url: str

    def names(self) -> list[str]:
        """Names that hold at least one release, sorted."""
        ...

    def versions(self, name: str) -> list[str]:
        """Published versions (semver strings without prefix) of ``name``, in any order."""
        ...

    def files(self, name: str, version: str) -> dict[str, int]:
        """Every file of a release (relative POSIX path -> size in bytes).

        Raises ReleaseNotFoundError when the release does not exist.
        """
        ...

    def read_chunks(self, name: str, version: str, path: str, start: int = 0) -> Iterator[bytes]:
        """Stream a release file from byte ``start`` on (``start`` > 0 resumes a download).

        The bytes are not verified here: callers hash them against the MANIFEST.
        Raises ReleaseNotFoundError when the release or file does not exist.
        """
        ...

    def publish(self, name: str, version: str, files: Mapping[str, Path]) -> None:
        """Publish ``files`` (relative path -> local file) as release ``version``, all or nothing.

        Raises ReleaseExistsError when the version exists, also when another publisher
        won a race for it; the winner's files stay intact.
        """
        ...

    def read_record(self, name: str, version: str, key: str) -> bytes | None:
        """A document of the release's mutable record, or None when absent."""
        ...

    def write_record(self, name: str, version: str, key: str, data: bytes) -> None:
        """Create or replace a document of the release's record (atomically)."""
        ...

    def record_keys(self, name: str, version: str) -> list[str]:
        """Keys of the release's record documents, sorted."""
        ...


def read_bytes(store: Store, name: str, version: str, path: str) -> bytes:
    """A whole (small) release file in memory, e.g. MANIFEST.txt or profile.json."""
    return b"".join(store.read_chunks(name, version, path))
