"""The S3 store: releases in any S3-compatible object store (AWS S3, MinIO, Ceph, R2, SeaweedFS).

URL: ``s3://bucket[/prefix][?endpoint=URL&region=R&profile=P]``. Layout::

    <prefix>/<name>/model-v1.0.1/<path>          one object per release file, never overwritten
    <prefix>/<name>/model-v1.0.1/MANIFEST.txt    written last: the commit marker
    <prefix>/<name>/model-v1.0.1.record/<key>    the mutable record (state.json, ...)
    <prefix>/<name>/model-v1.0.1.claim          a publish in progress (deleted when done)

Every release object is written create-only (``If-None-Match: *``; for multipart uploads on
CompleteMultipartUpload). A publisher first creates the claim object create-only: of two
racing publishers exactly one gets it, the other is refused at once. The winner uploads the
files and then MANIFEST.txt; a release exists only once its MANIFEST.txt does, so readers
never see half a release, and a failed publish deletes what it wrote. A claim left by a
publisher that crashed blocks that version until it is deleted (the error says which object).

Endpoint and credentials come from the standard AWS chain (``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``,
``~/.aws/config`` and ``credentials``, instance roles), unless the URL names an endpoint,
region or profile: so two stores on different endpoints can be mirrored in one command.
The URL holds no secrets: it is written into .prepared.json.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import socket
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, cast

from tether import __version__
from tether.errors import (
    ManifestError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StoreAuthError,
    StoreUnavailableError,
    StoreURLError,
)
from tether.manifest import MANIFEST_FILE
from tether.names import MAX_STREAMS, RECORD_SUFFIX
from tether.paths import check_name, check_relative_path, check_release_paths
from tether.stores._botocore import Config, Session, bex
from tether.stores._remote import RemoteBody, check_payload, publish_manifest, split_store_url
from tether.versioning import RELEASE_TAG_PREFIX, parse_release_tag, release_tag

log = logging.getLogger(__name__)

CLAIM_SUFFIX = ".claim"
MULTIPART_THRESHOLD = 64 << 20  # files above this go in parts (S3 allows 5 GiB per PUT)
PART_SIZE = 64 << 20  # memory stays small anyway: parts stream from the file
MAX_PARTS = 10_000
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0

_AUTH_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "403",
    "Forbidden",
    "AllAccessDisabled",
}
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION = {"PreconditionFailed", "412"}
_NETWORK_ERRORS = (
    bex.EndpointConnectionError,
    bex.ConnectTimeoutError,
    bex.ConnectionClosedError,
    bex.ReadTimeoutError,
    bex.ResponseStreamingError,
    bex.IncompleteReadError,
    bex.HTTPClientError,
)


def _code(exc: bex.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _FileSlice(io.RawIOBase):
    """``length`` bytes of a file from ``offset``, as a seekable stream: botocore reads a
    part (for its checksum, then to send it) without the part ever being in memory whole."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        super().__init__()
        self._handle = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._offset, self._length, self._pos = offset, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._length - self._pos)
        if want <= 0:
            return 0
        self._handle.seek(self._offset + self._pos)
        n = self._handle.readinto(memoryview(buffer)[:want]) or 0
        self._pos += n
        return n

    def close(self) -> None:
        self._handle.close()
        super().close()


class S3Store:
    """A store in an S3 bucket (see the module docstring for the layout)."""

    parallel = True  # objects serve concurrent Range reads (tether.spine.transfer)

    def __init__(self, url: str, session: Any, client: Any, bucket: str, prefix: str) -> None:
        self.url = url
        self.session = session
        self.client = client
        self.bucket = bucket
        self.root = f"{prefix}/" if prefix else ""
        self._committed: set[tuple[str, str]] = set()
        self._create_only_checked = False

    def __repr__(self) -> str:
        return f"S3Store({self.url!r})"

    # --- keys -----------------------------------------------------------------------------

    def _name_prefix(self, name: str) -> str:
        return f"{self.root}{check_name(name)}/"

    def _release_prefix(self, name: str, version: str) -> str:
        return f"{self._name_prefix(name)}{release_tag(version)}/"

    def _record_key(self, name: str, version: str, key: str) -> str:
        check_relative_path(key, where="record key")
        return f"{self._name_prefix(name)}{release_tag(version)}{RECORD_SUFFIX}/{key}"

    def _claim_key(self, name: str, version: str) -> str:
        return f"{self._name_prefix(name)}{release_tag(version)}{CLAIM_SUFFIX}"

    def _s3url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # --- errors ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return str(self.client.meta.endpoint_url)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn botocore's exceptions into tether's, naming the endpoint and the fix."""
        try:
            yield
        except bex.NoCredentialsError as exc:
            raise StoreAuthError(
                f"no S3 credentials found for {self.url} ({what})",
                "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials",
            ) from exc
        except _NETWORK_ERRORS as exc:
            raise StoreUnavailableError(
                f"cannot reach S3 endpoint {self.endpoint} ({what}): {exc}",
                "check that the server runs, and the endpoint (AWS_ENDPOINT_URL or "
                "?endpoint= in the store URL)",
            ) from exc
        except bex.ClientError as exc:
            code = _code(exc)
            if code in _AUTH_CODES:
                creds = self.session.get_credentials()
                key = getattr(creds, "access_key", None) or "?"
                raise StoreAuthError(
                    f"S3 endpoint {self.endpoint} refused access key {key[:4]}... for "
                    f"{what} in bucket {self.bucket} ({code})",
                    "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the profile) and the "
                    "bucket policy",
                ) from exc
            if code == "NoSuchBucket":
                raise StoreUnavailableError(
                    f"bucket {self.bucket} does not exist at {self.endpoint}",
                    "create it first, or fix the store URL",
                ) from exc
            message = exc.response.get("Error", {}).get("Message", "")
            raise StoreUnavailableError(
                f"S3 endpoint {self.endpoint}: {what} failed: {code} {message}".strip()
            ) from exc

    def _list(self, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        """Pages of ListObjectsV2 under ``prefix``."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        with self._errors(f"listing {self._s3url(prefix)}"):
            yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)

    def _exists(self, key: str) -> bool:
        with self._errors(f"looking up {self._s3url(key)}"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
                return True
            except bex.ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return False
                raise

    # --- reading --------------------------------------------------------------------------

    def names(self) -> list[str]:
        found = []
        for page in self._list(self.root, "/"):
            for entry in page.get("CommonPrefixes") or []:
                name = entry["Prefix"][len(self.root) :].rstrip("/")
                try:
                    check_name(name)
                except ValueError:
                    continue
                if self.versions(name):
                    found.append(name)
        return sorted(found)

    def versions(self, name: str) -> list[str]:
        base = self._name_prefix(name)
        found = []
        for page in self._list(base):
            for entry in page.get("Contents") or []:
                tag, sep, rest = entry["Key"][len(base) :].partition("/")
                if not sep or rest != MANIFEST_FILE or not tag.startswith(RELEASE_TAG_PREFIX):
                    continue
                try:
                    version = str(parse_release_tag(tag))
                except ValueError:
                    continue
                self._committed.add((name, version))
                found.append(version)
        return found

    def _require_release(self, name: str, version: str) -> str:
        """The release's key prefix; ReleaseNotFoundError unless its MANIFEST.txt exists."""
        prefix = self._release_prefix(name, version)
        if (name, version) not in self._committed:
            if not self._exists(prefix + MANIFEST_FILE):
                raise ReleaseNotFoundError(
                    f"{self.url} has no release {name} {release_tag(version)}"
                )
            self._committed.add((name, version))  # committed releases never change
        return prefix

    def files(self, name: str, version: str) -> dict[str, int]:
        prefix = self._require_release(name, version)
        where = f"{name} {release_tag(version)} in {self.url}"
        keys = [
            (entry["Key"][len(prefix) :], int(entry["Size"]))
            for page in self._list(prefix)
            for entry in page.get("Contents") or []
        ]
        # keys are whatever the server lists: each must be a file path of one release folder
        # (tests/spine/test_crafted_releases.py)
        marker = next((key for key, _ in keys if key.endswith("/")), None)
        if marker is not None:
            raise ManifestError(
                f"{where}: key {self._s3url(prefix + marker)} ends with '/' (a folder "
                "marker), which no file of a release can be",
                "the release was tampered with or badly uploaded; do not use it",
            )
        check_release_paths([key for key, _ in keys], where=where)
        return dict(keys)

    def open_file(
        self, name: str, version: str, path: str, start: int = 0, end: int | None = None
    ) -> BinaryIO:
        where = f"{name} {release_tag(version)}"
        key = self._require_release(name, version) + check_relative_path(path, where=where)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        with self._errors(f"downloading {self._s3url(key)}"):
            try:
                answer = self.client.get_object(**kwargs)
            except bex.ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    raise ReleaseNotFoundError(
                        f"release {where} in {self.url} has no file {path}"
                    ) from None
                if _code(exc) == "InvalidRange":  # start at the very end: nothing left
                    return io.BytesIO()
                raise
        size = start + int(answer.get("ContentLength") or 0)
        return cast(BinaryIO, _ObjectBody(answer["Body"], f"{path} of {where}", start, size))

    # --- publishing -----------------------------------------------------------------------

    def publish(self, name: str, version: str, files: Mapping[str, Path]) -> None:
        tag = release_tag(version)
        where = f"{name} {tag}"
        manifest, manifest_raw = publish_manifest(name, version, files)
        prefix = self._release_prefix(name, version)
        if self._exists(prefix + MANIFEST_FILE):
            raise ReleaseExistsError(f"{self.url} already has {where}")
        payload = check_payload(manifest, files, where)
        self._check_create_only()
        claim = self._claim_key(name, version)
        self._claim(claim, prefix, where)
        created: list[str] = []
        try:
            for rel in sorted(payload):
                self._upload(prefix + rel, Path(files[rel]), where)
                created.append(prefix + rel)
            self._put_new(prefix + MANIFEST_FILE, manifest_raw, where)  # the commit
            self._committed.add((name, version))
        except BaseException:
            for key in created:  # all or nothing: no half release stays behind
                self._delete_quietly(key)
            raise
        finally:
            self._delete_quietly(claim)

    def _check_create_only(self) -> None:
        """Refuse to publish where ``If-None-Match: *`` is silently ignored (some S3-compatible
        servers do): there, create-only writes would overwrite and races go unnoticed."""
        if self._create_only_checked:
            return
        probe = f"{self.root}.tether-probe-{uuid.uuid4().hex}"
        try:
            self._put_new(probe, b"1", "a create-only probe")
            try:
                self._put_new(probe, b"2", "a create-only probe")
            except ReleaseExistsError:
                self._create_only_checked = True
                return
        finally:
            self._delete_quietly(probe)
        raise StoreUnavailableError(
            f"S3 endpoint {self.endpoint} ignores If-None-Match: * (a second create-only PUT "
            "succeeded), so it cannot keep releases immutable",
            "use a server with conditional writes (AWS S3, MinIO, R2, SeaweedFS, recent Ceph)",
        )

    def _claim(self, claim: str, prefix: str, where: str) -> None:
        body = json.dumps(
            {
                "id": uuid.uuid4().hex,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started": datetime.now(tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tether": __version__,
            }
        ).encode()
        try:
            self._put_new(claim, body, where)
        except ReleaseExistsError:
            if self._exists(prefix + MANIFEST_FILE):
                raise ReleaseExistsError(
                    f"{self.url} already has {where} (another publisher won the race)"
                ) from None
            raise ReleaseExistsError(
                f"{self.url} already has {where} in progress: another publisher holds "
                f"{self._s3url(claim)}",
                "let it finish; if that publisher crashed, delete the claim object and "
                f"any objects under {self._s3url(prefix)}, then publish again",
            ) from None

    def _put_new(self, key: str, data: bytes, where: str) -> None:
        """Create ``key`` holding ``data``; ReleaseExistsError if it exists."""
        with self._errors(f"uploading {self._s3url(key)}"):
            try:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
            except bex.ClientError as exc:
                if _code(exc) in _PRECONDITION:
                    raise ReleaseExistsError(
                        f"{self.url} already has {where}: {self._s3url(key)} exists"
                    ) from None
                raise

    def _upload(self, key: str, path: Path, where: str) -> None:
        """Create ``key`` from a file, create-only; in parts above MULTIPART_THRESHOLD."""
        size = path.stat().st_size
        what = f"uploading {self._s3url(key)}"
        with self._errors(what):
            try:
                if size <= MULTIPART_THRESHOLD:
                    with _FileSlice(path, 0, size) as body:
                        self.client.put_object(
                            Bucket=self.bucket,
                            Key=key,
                            Body=body,
                            ContentLength=size,
                            IfNoneMatch="*",
                        )
                else:
                    self._upload_parts(key, path, size)
            except bex.ClientError as exc:
                if _code(exc) in _PRECONDITION:
                    raise ReleaseExistsError(
                        f"{self.url} already has {where}: {self._s3url(key)} was written by "
                        "another publisher while we held the claim",
                        "another tool writes here; check the release before using it",
                    ) from None
                raise

    def _upload_parts(self, key: str, path: Path, size: int) -> None:
        part_size = max(PART_SIZE, math.ceil(size / MAX_PARTS))
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, offset in enumerate(range(0, size, part_size), start=1):
                length = min(part_size, size - offset)
                with _FileSlice(path, offset, length) as body:
                    answer = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=body,
                        ContentLength=length,
                    )
                part = {"ETag": answer["ETag"], "PartNumber": number}
                for field in ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumSHA1", "ChecksumSHA256"):
                    if answer.get(field):
                        part[field] = answer[field]
                parts.append(part)
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",  # create-only applies to the completed object
            )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception as exc:  # the original error matters more
                log.warning("could not abort multipart upload of %s: %s", key, exc)
            raise

    def _delete_quietly(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # cleanup must not hide the error that caused it
            log.warning("could not delete %s: %s", self._s3url(key), exc)

    # --- records --------------------------------------------------------------------------

    def read_record(self, name: str, version: str, key: str) -> bytes | None:
        object_key = self._record_key(name, version, key)
        with self._errors(f"reading {self._s3url(object_key)}"):
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=object_key)
            except bex.ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return None
                raise
            with answer["Body"] as body:
                return body.read()

    def write_record(self, name: str, version: str, key: str, data: bytes) -> None:
        self._require_release(name, version)
        object_key = self._record_key(name, version, key)
        with self._errors(f"writing {self._s3url(object_key)}"):
            # a PUT replaces an object atomically: readers see the old or the new record
            self.client.put_object(Bucket=self.bucket, Key=object_key, Body=data)

    def record_keys(self, name: str, version: str) -> list[str]:
        """Keys of the release's record documents (used by mirror to copy them all)."""
        prefix = f"{self._name_prefix(name)}{release_tag(version)}{RECORD_SUFFIX}/"
        return sorted(
            entry["Key"][len(prefix) :]
            for page in self._list(prefix)
            for entry in page.get("Contents") or []
        )


def open_s3_store(url: str) -> S3Store:
    """An S3Store for ``s3://bucket[/prefix][?endpoint=URL&region=R&profile=P]``."""
    parsed, query = split_store_url(
        url,
        "s3",
        form="s3://bucket/prefix",
        options=("endpoint", "region", "profile"),
        credentials_fix="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
    )
    prefix = parsed.path.strip("/")
    session = Session(profile=query.get("profile"))
    try:  # reads the profile, also when the URL names the region
        configured = session.get_config_variable("region")
    except bex.ProfileNotFound as exc:
        raise StoreURLError(
            f"AWS profile {query.get('profile')!r} of {url!r} is not configured"
        ) from exc
    region = query.get("region") or configured or "us-east-1"
    endpoint = query.get("endpoint")
    # S3-compatible servers (MinIO, Ceph, SeaweedFS) want path-style addressing; AWS takes both
    custom = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=MAX_STREAMS,  # one per stream of a parallel download
        s3={"addressing_style": "path"} if custom else None,
        user_agent_extra=f"tether/{__version__}",
    )
    client = session.create_client("s3", endpoint_url=endpoint, region_name=region, config=config)
    return S3Store(url, session, client, parsed.netloc, prefix)


class _ObjectBody(RemoteBody):
    """An object download, read straight into the caller's buffer. urllib3's readinto
    makes a new bytes object per chunk (page faults that cost more than the hashing, as on
    the OCI side), so a plain body is read from the http.client response beneath it."""

    network_errors = (*RemoteBody.network_errors, *_NETWORK_ERRORS)

    def __init__(self, body: Any, where: str, start: int, size: int) -> None:
        super().__init__(where, start, size)
        self._body = body
        raw = getattr(body, "_raw_stream", None)  # botocore's urllib3 response
        beneath = getattr(raw, "_fp", None)
        headers = getattr(raw, "headers", None) or {}
        plain = headers.get("Content-Encoding", "identity") in ("identity", "")
        self._raw = raw
        self._fill_from = getattr(beneath, "readinto", None) if plain else None

    def _fill(self, buffer: memoryview) -> int:
        if self._fill_from is not None:
            return self._fill_from(buffer) or 0
        return self._body.readinto(buffer)

    def _release(self) -> None:
        if self._fill_from is not None and self.position >= self.size:
            # read to its end beneath urllib3, which did not notice: hand the connection
            # back to the pool (closing would drop it; parallel ranges reuse them)
            self._raw.release_conn()
        self._body.close()
