"""What the remote stores (oci, s3) share: checking a publish, reading ahead on downloads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from tether.errors import IntegrityError, ManifestError
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest
from tether.paths import check_relative_path
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
    for rel in files:
        check_relative_path(rel, where=where)
    return manifest, raw


# --- read-ahead ---------------------------------------------------------------------------

#: Chunks a download may run ahead of its reader: memory stays at most this many MiB.
READ_AHEAD_CHUNKS = 8
#: Below this size a file is read without a helper thread (nothing to overlap).
READ_AHEAD_MIN_SIZE = 8 << 20

_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(chunks: Iterator[bytes], depth: int = READ_AHEAD_CHUNKS) -> Iterator[bytes]:
    """Yield ``chunks``, received on a helper thread up to ``depth`` chunks ahead.

    The caller hashes and writes each chunk while the next ones arrive: socket reads,
    sha256 and file writes all release the GIL, so on two cores a verified download runs
    near the speed of a bare one instead of at the sum of their times. An error while
    receiving (a dropped connection) reaches the caller at the point it happened; a caller
    that stops early stops the helper, which closes the connection.
    """
    pipe: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                pipe.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(_END)
        except BaseException as exc:  # handed to the reader, raised there
            put(_Failure(exc))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # the generator's finally closes the HTTP response

    helper = threading.Thread(target=pump, name="tether-read-ahead", daemon=True)
    helper.start()
    try:
        while True:
            item = pipe.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
