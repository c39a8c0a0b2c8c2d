"""Parallel ranged downloads, hashed in file order as they arrive (for tether.spine.fetch).

Real registries, object stores and CDNs cap what one connection gets, so a large file of a
store that serves ranges (a backend with ``parallel = True``) is cut into parts that up to
``streams`` threads fetch at once, each over its own pooled connection, writing at their
offsets into the one temp file. Parts are handed out in file order and shrink towards the
end of the download (each is 1/2·streams of what is left), so every stream is busy to the
end and little is in flight past the contiguous prefix then. One hasher thread follows that prefix
in file order, reading it back from the page cache, so sha256 takes the bytes in order and
a file is verified (and fsynced) moments after its last part lands; nothing unverified is
ever handed back. Memory: one 1 MiB buffer per stream and one for the hasher.

Several files download at once the same way (a file below PARALLEL_MIN_BYTES is one part).
One stream is used (tether.spine.fetch.download_verified, unchanged) when the store is
local or does not serve ranges, when less than PARALLEL_MIN_BYTES is to be downloaded, and
when the store is on this host: there nothing caps a connection, one stream already runs
as fast as sha256 and the disk, and more would only add work (BENCHMARKS.md).

Resume: a part whose connection drops is asked for again from the byte it broke at. A file
written in ranges has holes below its end, so its sidecar ``<file>.ranges.tether-part``
records the prefix verified in order (rewritten as it grows, removed once the file is
verified); a dead fetch's ranged file is trusted only up to that prefix
(``recorded_prefix``), and whatever it held beyond is fetched again.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from tether.atomic import write_atomic
from tether.errors import ConfigError, IntegrityError, StoreUnavailableError
from tether.hashing import CHUNK_SIZE
from tether.names import (
    DEFAULT_STREAMS,
    MAX_STREAMS,
    PARALLEL_MIN_BYTES,
    RANGES_SUFFIX,
    STREAMS_ENV,
    TEST_PART_ENV,
)
from tether.stores.base import Store
from tether.versioning import release_tag

log = logging.getLogger(__name__)

#: Tries per part after a dropped connection (as tether.spine.fetch gives a whole file).
RESUME_ATTEMPTS = 3
#: The smallest part: a request costs a round trip, which a smaller part would not repay.
MIN_PART = 4 << 20
#: A file at least this large is downloaded in ranges (and a download in parallel).
PARALLEL_MIN = PARALLEL_MIN_BYTES
#: The sidecar is rewritten when the verified prefix grew by this much (a few per GiB).
RECORD_EVERY = 64 << 20
#: Written bytes are handed to the disk in steps of this size while a download runs.
WRITEBACK_EVERY = 32 << 20

# Test-only (tests/spine/test_kill_fetch.py, tests/stores/test_parallel_download.py):
# TETHER_TEST_PART_BYTES=N cuts parts of N bytes, ranges files of 2 N and more and records
# their prefix every N, so that a child process fetching a small release takes this path.
_TEST_PART = os.environ.get(TEST_PART_ENV, "")
if _TEST_PART.isdigit() and int(_TEST_PART) > 0:
    MIN_PART = RECORD_EVERY = int(_TEST_PART)
    PARALLEL_MIN = 2 * MIN_PART

_LOCAL_HOSTS = ("localhost", "localhost.localdomain")


def streams_setting(streams: int | None = None) -> int:
    """The most streams a fetch may open: ``streams``, else $TETHER_STREAMS, else 8."""
    where = "--streams"
    if streams is None:
        text = os.environ.get(STREAMS_ENV, "").strip()
        if not text:
            return DEFAULT_STREAMS
        where = f"${STREAMS_ENV}"
        if not text.isdigit():
            raise ConfigError(
                f"{where} must be a whole number of streams, not {text!r}",
                f"set {STREAMS_ENV} to a number from 1 to {MAX_STREAMS} (1: one stream)",
            )
        streams = int(text)
    if not 1 <= streams <= MAX_STREAMS:
        raise ConfigError(
            f"{where} must be from 1 to {MAX_STREAMS}, not {streams}",
            "8 fills a link whose server caps each connection; 1 downloads one file at a time",
        )
    return streams


def local_host(url: str) -> bool:
    """Whether a store URL names this host (loopback), where no link caps a connection: its
    host, or for s3:// its ``endpoint`` option (without one it is AWS)."""
    parsed = urlparse(url)
    endpoint = parse_qs(parsed.query).get("endpoint")
    host = (urlparse(endpoint[-1]).hostname if endpoint else parsed.hostname) or ""
    if host.lower() in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def streams_for(store: Store, total: int, streams: int | None = None, *, forced: bool) -> int:
    """How many streams to download ``total`` bytes of ``store`` with (1: the plain path).

    ``forced``: ``streams`` was asked for explicitly (option or $TETHER_STREAMS), which
    also holds for a store on this host (a proxy that caps each connection, a benchmark).
    """
    wanted = streams_setting(streams)
    if wanted == 1 or not getattr(store, "parallel", False) or total < PARALLEL_MIN:
        return 1
    if local_host(store.url) and not forced:
        return 1
    return wanted


def streams_forced(streams: int | None) -> bool:
    """Whether a stream count was asked for rather than defaulted."""
    return streams is not None or bool(os.environ.get(STREAMS_ENV, "").strip())


# --- the sidecar: a ranged file's verified prefix ------------------------------------------


def ranges_sidecar(target: Path) -> Path:
    return target.with_name(target.name + RANGES_SUFFIX)


def recorded_prefix(target: Path) -> int | None:
    """The verified prefix a dead ranged download of ``target`` recorded (None: the file was
    written in order, or never started; 0: its sidecar is unreadable, trust nothing)."""
    try:
        text = ranges_sidecar(target).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return 0
    return int(text) if text.isdigit() else 0


def _record_prefix(target: Path, prefix: int) -> None:
    write_atomic(ranges_sidecar(target), f"{prefix}\n".encode("ascii"))


class Writeback:
    """Starts the disk writing a download's verified bytes while it runs, so that its final
    fsync waits for the last steps only: over a capped link the kernel would otherwise
    hold the whole file dirty until then (its background writeback starts at 10% of RAM).

    POSIX_FADV_DONTNEED on written bytes starts their writeback without waiting for it
    (Linux), and lets the page cache go of them once written; elsewhere this does nothing.
    Not on the one-stream path, which stays as it was: on loopback, with it, that path
    measured 5% slower than before (within this shared machine's noise; BENCHMARKS.md).
    """

    def __init__(self, fd: int, start: int = 0) -> None:
        self.fd, self.done = fd, start

    def __call__(self, upto: int) -> None:
        if upto - self.done >= WRITEBACK_EVERY and _FADVISE:
            os.posix_fadvise(self.fd, self.done, upto - self.done, os.POSIX_FADV_DONTNEED)
            self.done = upto


_FADVISE = sys.platform.startswith("linux") and hasattr(os, "posix_fadvise")


# --- the engine --------------------------------------------------------------------------


@dataclass
class Job:
    """One file to download into ``target``, whose first ``kept`` bytes are already there
    (a dead fetch's in-order prefix: hashed first, checked with the rest)."""

    rel: str
    size: int
    sha256: str
    target: Path
    kept: int = 0


@dataclass
class _Part:
    start: int
    end: int
    written: int = 0  # bytes written from ``start`` on, in order


@dataclass
class _File:
    job: Job
    parts: list[_Part]
    fd: int = -1
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    hashed: int = 0
    prefix: int = 0  # bytes written contiguously from byte 0
    frontier: int = 0  # index of the first part not yet complete
    recorded: int = 0  # prefix the sidecar holds (ranged files)
    ranged: bool = False
    done: bool = False
    writeback: Writeback | None = None

    def advance(self, index: int, n: int) -> bool:
        """``n`` more bytes of part ``index`` written; whether the prefix grew."""
        self.parts[index].written += n
        if index != self.frontier:
            return False
        while self.frontier < len(self.parts):
            part = self.parts[self.frontier]
            self.prefix = part.start + part.written
            if part.start + part.written < part.end:
                break
            self.frontier += 1
        else:
            self.prefix = self.job.size
        return True


def _cut(job: Job, streams: int, after: int = 0) -> list[_Part]:
    """Parts of what is left of ``job``, followed by ``after`` bytes of other files: each
    1/2·streams of all that is left, MIN_PART at least, so parts are large while there is
    much to come and small at the very end, where the streams then finish together."""
    start, size = job.kept, job.size
    if size - start < PARALLEL_MIN:
        return [_Part(start, size)] if start < size else []
    parts = []
    while start < size:
        length = max(MIN_PART, (size - start + after) // (2 * streams))
        length = -(-length // CHUNK_SIZE) * CHUNK_SIZE  # whole buffers
        parts.append(_Part(start, min(size, start + length)))
        start = parts[-1].end
    return parts


class _Download:
    """One run of the engine over a list of jobs; see the module docstring."""

    def __init__(
        self,
        store: Store,
        name: str,
        version: str,
        jobs: list[Job],
        streams: int,
        on_bytes: Callable[[int], None] | None,
        on_mismatch: Callable[[str], None] | None = None,
    ) -> None:
        self.store, self.name, self.version = store, name, version
        self.on_bytes, self.on_mismatch = on_bytes, on_mismatch
        after = [sum(j.size - j.kept for j in jobs[i + 1 :]) for i in range(len(jobs))]
        self.files = [_File(job, _cut(job, streams, a)) for job, a in zip(jobs, after, strict=True)]
        self.queue = [(f, i) for f in self.files for i in range(len(f.parts))]
        self.queue.reverse()  # pop() hands parts out in file order
        self.streams = max(1, min(streams, len(self.queue)))
        self.lock = threading.Condition()
        self.error: BaseException | None = None
        self.mismatched: list[Job] = []  # a kept prefix that was not the file's start

    # --- the main thread ---

    def run(self) -> None:
        for file in self.files:
            self._open(file)
        workers = [
            threading.Thread(
                target=self._guard, args=(self._work,), daemon=True, name=f"tether-range-{i}"
            )
            for i in range(self.streams)
        ]
        hasher = threading.Thread(
            target=self._guard, args=(self._hash,), daemon=True, name="tether-hash"
        )
        try:
            for thread in [*workers, hasher]:
                thread.start()
            for thread in [*workers, hasher]:
                while thread.is_alive():
                    thread.join(0.5)  # a timeout keeps the main thread open to Ctrl-C
        except BaseException as exc:
            self._fail(exc)
            for thread in [*workers, hasher]:
                thread.join()
            raise
        finally:
            self._close()
        if self.error is not None:
            raise self.error

    def _open(self, file: _File) -> None:
        job = file.job
        file.fd = os.open(job.target, os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(file.fd, job.kept)  # nothing past the prefix is trusted
        file.writeback = Writeback(file.fd)
        file.prefix = file.recorded = job.kept
        file.ranged = len(file.parts) > 1
        if file.ranged:  # before any byte lands past the prefix
            _record_prefix(job.target, job.kept)
        if not file.parts:  # all there already: only to be hashed
            file.prefix = job.size

    def _close(self) -> None:
        """After the threads: close every file; a ranged one left incomplete records the
        prefix it has in order, which the next fetch resumes from."""
        buffer = memoryview(bytearray(CHUNK_SIZE))
        for file in self.files:
            if file.fd >= 0:
                if not file.done and file.ranged:
                    self._catch_up(file, file.prefix, buffer)
                    if file.hashed > file.recorded:
                        self._record(file)
                os.close(file.fd)
                file.fd = -1

    def _fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = exc
            self.queue.clear()
            self.lock.notify_all()

    def _guard(self, body: Callable[[], None]) -> None:
        try:
            body()
        except BaseException as exc:
            self._fail(exc)

    # --- the streams ---

    def _work(self) -> None:
        buffer = memoryview(bytearray(CHUNK_SIZE))
        while True:
            with self.lock:
                if self.error is not None or not self.queue:
                    return
                file, index = self.queue.pop()
            self._fetch_part(file, index, buffer)

    def _fetch_part(self, file: _File, index: int, buffer: memoryview) -> None:
        part, job = file.parts[index], file.job
        attempts = 0
        while part.start + part.written < part.end:
            position = part.start + part.written
            try:
                with self.store.open_file(
                    self.name, self.version, job.rel, start=position, end=part.end
                ) as stream:
                    while position < part.end:
                        if self.error is not None:
                            return
                        n = stream.readinto(buffer[: min(CHUNK_SIZE, part.end - position)])
                        if not n:
                            raise StoreUnavailableError(
                                f"download of {job.rel} ended at byte {position}, before "
                                f"{part.end}",
                                "tether resumes it; if it keeps failing, check the store",
                            )
                        _write_at(file.fd, buffer[:n], position)
                        position += n
                        with self.lock:
                            if file.advance(index, n):  # the hasher has more to do
                                self.lock.notify_all()
                        if self.on_bytes is not None:
                            self.on_bytes(n)
            except (ConnectionError, TimeoutError, StoreUnavailableError) as exc:
                attempts += 1
                if attempts > RESUME_ATTEMPTS:
                    raise
                log.warning(
                    "download of %s broke at byte %d (%s); resuming",
                    job.rel, part.start + part.written, exc,
                )  # fmt: skip

    # --- the hasher: each file's bytes in order, as its written prefix grows ---

    def _hash(self) -> None:
        buffer = memoryview(bytearray(CHUNK_SIZE))
        pending = list(self.files)
        while pending:
            with self.lock:
                while self.error is None and not any(f.prefix > f.hashed for f in pending):
                    if all(f.prefix == f.hashed == f.job.size for f in pending):
                        break
                    self.lock.wait()
                if self.error is not None:
                    return
                ready = [(f, f.prefix) for f in pending]
            for file, prefix in ready:
                self._catch_up(file, prefix, buffer)
                if file.writeback is not None:
                    file.writeback(file.hashed)  # hashed: no longer needed in the cache
                if file.ranged and file.hashed - file.recorded >= RECORD_EVERY:
                    self._record(file)
                if file.hashed == file.job.size:
                    self._finish(file)
                    pending.remove(file)

    def _catch_up(self, file: _File, prefix: int, buffer: memoryview) -> None:
        """Hash ``file`` on up to ``prefix``, reading it back (from the page cache)."""
        while file.hashed < prefix:
            n = _read_at(file.fd, buffer[: min(CHUNK_SIZE, prefix - file.hashed)], file.hashed)
            file.digest.update(buffer[:n])
            file.hashed += n

    def _record(self, file: _File) -> None:
        _record_prefix(file.job.target, file.hashed)
        file.recorded = file.hashed

    def _finish(self, file: _File) -> None:
        job = file.job
        os.fsync(file.fd)
        if file.digest.hexdigest() != job.sha256:
            os.close(file.fd)
            file.fd = -1
            job.target.unlink(missing_ok=True)
            ranges_sidecar(job.target).unlink(missing_ok=True)
            if job.kept:  # the part a dead fetch left was not the file's start
                self.mismatched.append(job)
                return
            if self.on_mismatch is not None:
                self.on_mismatch(job.rel)
            raise IntegrityError(
                f"{job.rel} of {self.name} {release_tag(self.version)} does not match its "
                f"MANIFEST digest (got {file.digest.hexdigest()[:12]}..., expected "
                f"{job.sha256[:12]}...)",
                "the store's copy is corrupt or was tampered with; nothing was activated",
            )
        file.done = True
        if file.ranged:
            ranges_sidecar(job.target).unlink(missing_ok=True)


def _write_at(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


def _read_at(fd: int, buffer: memoryview, offset: int) -> int:
    if hasattr(os, "preadv"):  # into the reused buffer
        n = os.preadv(fd, [buffer], offset)
    else:
        n = _pread_into(fd, buffer, offset)
    if not n:
        raise IntegrityError(f"a download's temp file ended early at byte {offset}")
    return n


def _pread_into(fd: int, buffer: memoryview, offset: int) -> int:
    data = os.pread(fd, len(buffer), offset)
    buffer[: len(data)] = data
    return len(data)


def download_parallel(
    store: Store,
    name: str,
    version: str,
    jobs: list[Job],
    *,
    streams: int,
    on_bytes: Callable[[int], None] | None = None,
    on_mismatch: Callable[[str], None] | None = None,
) -> list[str]:
    """Download ``jobs`` over up to ``streams`` concurrent ranged streams, each file verified
    against its sha256 and fsynced. Raises IntegrityError (its target deleted) when a file's
    bytes do not match; a job whose ``kept`` prefix was not the file's start is downloaded
    again from byte 0. On any other error the targets keep what was verified in order.

    Returns the files whose ``kept`` prefix was right (resumed); ``on_mismatch`` is called
    with the file that did not match before IntegrityError is raised."""
    engine = _Download(store, name, version, jobs, streams, on_bytes, on_mismatch)
    engine.run()
    bad = {job.rel for job in engine.mismatched}
    resumed = [job.rel for job in jobs if job.kept and job.rel not in bad]
    if engine.mismatched:
        log.warning(
            "%s: the part a dead fetch left was not its start; downloading it all",
            ", ".join(job.rel for job in engine.mismatched),
        )
        again = [Job(job.rel, job.size, job.sha256, job.target) for job in engine.mismatched]
        _Download(store, name, version, again, streams, on_bytes, on_mismatch).run()
    return resumed
