"""The Store protocol: where immutable releases live, whatever the backend.

A store holds releases grouped by *name* (a profile id such as ``local-text-retrieval-v1``
or any artifact name). A release ``model-v<semver>`` is a set of files, listed with their
sha256 in its MANIFEST.txt, that never changes once published. Beside each release the
store keeps a mutable *record*: small named documents (``state.json`` and, later, EVAL.json
or signatures) that may change without touching the release's files.

Backends implement the small set of primitives below; everything else (verification,
state history, resume) is written once, above them, in tether.spine.release and tether.spine.fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from tether.hashing import sha256_stream

__all__ = ["Store", "read_bytes", "stored_sha256"]


@runtime_checkable
class Store(Protocol):
    """What every store backend provides."""

    #: The URL the store was opened from, as shown to users and written into .prepared.json.
    url: str

    # Optional, not part of the protocol: a class attribute ``parallel = True`` says the
    # backend serves concurrent ranged reads from a server that may cap each connection
    # (tether.spine.transfer then downloads large files as parallel ranges).

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

    def open_file(
        self, name: str, version: str, path: str, start: int = 0, end: int | None = None
    ) -> BinaryIO:
        """A release file as a readable binary stream from byte ``start`` on (``start`` > 0
        resumes a download); the caller closes it.

        ``end``: the caller reads no byte at or past it (one range of a parallel download),
        so a remote backend asks its server for ``[start, end)`` only; a backend may ignore
        it and hand out more, which the caller leaves unread.

        ``readinto`` fills the caller's buffer, so a download reuses its buffers. The bytes
        are not verified here: callers hash them against the MANIFEST. A dropped connection
        raises StoreUnavailableError (or a ConnectionError/TimeoutError) from the read.
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
    with store.open_file(name, version, path) as stream:
        return stream.read()


def stored_sha256(store: Store, name: str, version: str, path: str) -> str:
    """Hex sha256 of a release file as the store holds it now."""
    with store.open_file(name, version, path) as stream:
        return sha256_stream(stream)
