"""What the remote stores (oci, s3) share: checking a publish, streaming a download."""

from __future__ import annotations

import http.client
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tether.errors import IntegrityError, ManifestError, StoreUnavailableError
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest
from tether.paths import PUBLISH_HINT, check_release_paths
from tether.versioning import release_tag


def publish_manifest(name: str, version: str, files: Mapping[str, Path]) -> tuple[Manifest, bytes]:
    """The MANIFEST.txt among ``files`` (parsed, raw), refusing a file set it does not list.

    The local store verifies its staged copies against this MANIFEST; remote stores check
    the digests on the way out (the registry recomputes every blob digest, the S3 store
    hashes before it uploads), so a file that changed after sealing is never published.
    """
    where = f"{name} {release_tag(version)}"
    if MANIFEST_FILE not in files:
        raise ManifestError(f"{where}: no {MANIFEST_FILE} among the files to publish")
    raw = Path(files[MANIFEST_FILE]).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{where} {MANIFEST_FILE} is not UTF-8 text") from exc
    manifest = parse_manifest(text, where=f"{where} {MANIFEST_FILE}")
    listed = set(manifest.files) | {MANIFEST_FILE}
    if listed != set(files):
        raise IntegrityError(
            f"the files to publish as {where} differ from those its MANIFEST.txt lists",
            "the source files changed during publish; publish again",
            problems=[
                *(f"not listed: {rel}" for rel in sorted(set(files) - listed)),
                *(f"missing: {rel}" for rel in sorted(listed - set(files))),
            ],
        )
    check_release_paths(files, where=where, hint=PUBLISH_HINT)
    return manifest, raw


# --- downloads ----------------------------------------------------------------------------


class RemoteBody(io.RawIOBase):
    """A response body as a readable stream, from byte ``start`` to ``size`` of the file.

    Subclasses fill the caller's buffer from their HTTP client. A dropped connection or a
    timeout, whatever the client calls it, and a body that ends before ``size`` (http.client
    reports that as a plain end of data) become StoreUnavailableError naming the file and
    the byte it broke at, which tether.spine.fetch resumes from.
    """

    #: What the HTTP client raises when the connection breaks mid-body.
    network_errors: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)

    def __init__(self, where: str, start: int, size: int) -> None:
        super().__init__()
        self.where, self.position, self.size = where, start, size

    def _fill(self, buffer: memoryview) -> int:
        raise NotImplementedError

    def _release(self) -> None:
        """Let go of the response (and its connection)."""

    def _describe(self, exc: BaseException) -> str:
        return str(exc) or type(exc).__name__

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            n = self._fill(view)
        except self.network_errors as exc:
            raise self._broken(self._describe(exc)) from exc
        if not n and view and self.position < self.size:
            raise self._broken("the connection closed early")
        self.position += n
        return n

    def _broken(self, reason: str) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"download of {self.where} broke at byte {self.position} ({reason})",
            "tether resumes it; if it keeps failing, check the network and the server",
        )

    def close(self) -> None:
        if not self.closed:
            self._release()
        super().close()
