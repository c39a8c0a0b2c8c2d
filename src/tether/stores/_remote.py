"""What the remote stores (oci, s3, github, hf) share: reading their URLs, checking a publish,
streaming uploads and downloads."""

from __future__ import annotations

import hashlib
import http.client
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import ParseResult, parse_qs, urlparse

from tether.errors import IntegrityError, ManifestError, StoreUnavailableError, StoreURLError
from tether.hashing import CHUNK_SIZE, sha256_files
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest
from tether.paths import PUBLISH_HINT, check_release_paths
from tether.versioning import release_tag


def check_payload(manifest: Manifest, files: Mapping[str, Path], where: str) -> list[str]:
    """The files to publish besides MANIFEST.txt, each hashed before anything goes out and
    refused unless it matches the MANIFEST (a source file changed after sealing)."""
    payload = [rel for rel in files if rel != MANIFEST_FILE]
    digests = sha256_files([Path(files[rel]) for rel in payload])
    bad = [rel for rel in payload if digests[Path(files[rel])] != manifest.files[rel]]
    if bad:
        raise IntegrityError(
            f"files of {where} do not match its MANIFEST.txt: {', '.join(sorted(bad))}",
            "the source files changed during publish; publish again",
        )
    return payload


def split_store_url(
    url: str, scheme: str, *, form: str, options: tuple[str, ...], credentials_fix: str
) -> tuple[ParseResult, dict[str, str]]:
    """``url`` parsed, and its ``?key=value`` options (the last of each); refuses another
    scheme, user:password in the URL (it is written to .prepared.json and logs) and any
    option but ``options``. ``form`` is the URL shape an error suggests."""
    parsed = urlparse(url)
    if parsed.scheme != scheme or not parsed.netloc:
        raise StoreURLError(f"not a {scheme}:// store URL: {url!r}", f"use {form}")
    if "@" in parsed.netloc:
        raise StoreURLError(
            f"the store URL {url.split('@')[-1]!r} carries credentials, which would be "
            "written to .prepared.json and logs",
            f"drop them; {credentials_fix}",
        )
    query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    unknown = sorted(set(query) - set(options))
    if unknown:
        raise StoreURLError(
            f"unknown option {unknown[0]!r} in {url!r}",
            f"known options: {', '.join(options)}",
        )
    return parsed, query


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


def network_reason(exc: BaseException) -> str:
    """A short cause for a requests/urllib3 exception (their str() runs to several lines)."""
    text = str(exc)
    for marker in (
        "Connection refused",
        "timed out",
        "Name or service not known",
        "Temporary failure in name resolution",
        "No route to host",
        "Connection reset by peer",
        "Connection aborted",
        "certificate verify failed",
        "IncompleteRead",
        "Broken pipe",
    ):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:200] if text else type(exc).__name__


class HttpBody(RemoteBody):
    """A requests response body. requests would hand out each chunk as a new bytes object;
    for a GiB those allocations cost more than hashing it (BENCHMARKS.md), so the body is
    read from the http.client response beneath urllib3, straight into the caller's buffer.
    With ``verify`` (``sha256:...``) the body read whole must have that digest.

    Subclasses add their client's errors to ``network_errors`` and say what ``verify`` is.
    """

    #: (what the digest is, what a mismatch means): the words of the IntegrityError.
    mismatch = ("its digest", "the store's copy is corrupt or was tampered with")

    def __init__(self, resp: Any, where: str, start: int, size: int, verify: str | None) -> None:
        super().__init__(where, start, size)
        self._resp, self._verify = resp, verify
        self._digest = hashlib.sha256() if verify else None
        beneath = getattr(resp.raw, "_fp", None)  # urllib3 2.x keeps it there
        encoded = resp.headers.get("Content-Encoding", "identity") != "identity"
        self._fill_from = beneath.readinto if beneath is not None and not encoded else None

    def _fill(self, buffer: memoryview) -> int:
        if self._fill_from is not None:
            n = self._fill_from(buffer) or 0
        else:  # a server that encoded the body anyway: let urllib3 decode it
            data = self._resp.raw.read(len(buffer), decode_content=True)
            n = len(data)
            buffer[:n] = data
        if self._digest is not None:
            self._digest.update(buffer[:n])
            if not n and "sha256:" + self._digest.hexdigest() != self._verify:
                what, meaning = self.mismatch
                raise IntegrityError(
                    f"{self.where} does not match {what} {self._verify}",
                    f"{meaning}; nothing was activated",
                )
        return n

    def skip(self, count: int) -> None:
        """Read and drop the first ``count`` bytes."""
        scratch = memoryview(bytearray(min(count, CHUNK_SIZE)))
        while count and (n := self.readinto(scratch[: min(count, len(scratch))])):
            count -= n

    def _release(self) -> None:
        if self._fill_from is not None and self.position >= self.size:
            # read to its end beneath urllib3, which did not notice: hand the connection
            # back to the pool (closing would drop it; parallel ranges reuse them)
            self._resp.raw.release_conn()
        self._resp.close()


class UploadBody:
    """A file as a request body: sent in 1 MiB reads, never held whole in memory.

    ``__len__`` makes requests send a Content-Length (registries refuse chunked blob PUTs);
    ``read`` ignores the small block size urllib3 asks for, so a GiB is ~1000 sends.
    """

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle, self._size = handle, size

    def __len__(self) -> int:
        return self._size

    def read(self, _amount: int = -1) -> bytes:
        return self._handle.read(CHUNK_SIZE)

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read():
            yield chunk

    def rewind(self) -> None:
        self._handle.seek(0)
