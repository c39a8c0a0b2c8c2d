"""The GitHub Releases store: each release is a GitHub Release, its files are its assets.

URL: ``github://owner/repo`` (github.com), ``github://HOST/owner/repo`` (GitHub Enterprise
Server, API at ``https://HOST/api/v3``), with ``?api=URL`` or ``$TETHER_GITHUB_API_URL`` to
name the REST API's base outright (a test server). Token: ``$GITHUB_TOKEN``, ``$GH_TOKEN``
(``$GH_ENTERPRISE_TOKEN`` / ``$GITHUB_ENTERPRISE_TOKEN`` first for another host), else
``gh auth token``; without one, public repositories can still be read.

A release ``model-v1.0.1`` is the GitHub Release of tag ``model-v1.0.1``: its assets are
the release's files and MANIFEST.txt, its body shows MANIFEST.txt and holds the record.
A GitHub repository's tags are one namespace, so one repository holds one version line:
a second model publishing a version the first holds is refused (use a repository each).

Asset names are flat; a file in a folder gets ``--`` for each ``/``
(``onnx/model.onnx`` -> ``onnx--model.onnx``), a flat file keeps its name
(``model.onnx``, ``tokenizer.json``). Only names GitHub keeps as given can be published:
segments of letters, digits, ``.``, ``_`` and ``-`` that do not begin or end with ``-``,
hold no ``--`` and (the first) do not begin with ``.``; so the mapping reverses exactly.

Publish, in the order gh uses (the only one that can still repair a failed upload when the
repository has immutable releases on): refuse an existing release or tag; create a draft
(invisible to readers); upload every asset, MANIFEST.txt last, checking the size and the
``digest`` GitHub computes; then publish it as a pre-release with ``make_latest: false``.
Of two racing publishers exactly one publishes: the other finds the tag taken (just before
publishing, or GitHub's 422 on it), deletes its draft and gets ReleaseExistsError.

The record (state.json, EVAL.json, model.sig) lives in the release's body, below
MANIFEST.txt, one HTML comment per document (``<!-- tether-record KEY BASE64 -->``, hidden
on the Releases page); the title shows the state. GitHub keeps title and notes editable
when a release is immutable, so promote and withdraw never touch the assets; the
pre-release flag stays set, so a tether release never becomes "latest" by itself.

Downloads check the asset's ``digest`` against MANIFEST.txt before a byte is fetched, then
stream from GitHub's storage with Range (the caller hashes while writing).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import quote

import requests

from tether import __version__
from tether.errors import (
    IntegrityError,
    ManifestError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StoreAuthError,
    StoreUnavailableError,
    StoreURLError,
)
from tether.hashing import sha256_bytes
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest
from tether.names import (
    GITHUB_API_URL,
    GITHUB_API_URL_ENV,
    GITHUB_API_VERSION,
    GITHUB_BODY_LIMIT,
    GITHUB_ENTERPRISE_TOKEN_ENVS,
    GITHUB_HOST,
    GITHUB_TOKEN_ENVS,
    MAX_STREAMS,
    STATE_RECORD,
)
from tether.paths import check_name, check_relative_path, check_release_paths
from tether.stores._remote import (
    HttpBody,
    UploadBody,
    check_payload,
    network_reason,
    publish_manifest,
    split_store_url,
)
from tether.versioning import RELEASE_TAG_PREFIX, parse_release_tag, release_tag

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0
PER_PAGE = 100
FOLDER_SEP = "--"
_SEGMENT = re.compile(r"[A-Za-z0-9._](?:[A-Za-z0-9._-]*[A-Za-z0-9._])?")
_RECORD = re.compile(r"<!-- tether-record (\S+) ([A-Za-z0-9+/=]*) -->")
_HEADER = re.compile(r"^# (\S+) model-v\S+ provenance$", re.MULTILINE)
_IMMUTABLE_HINT = (
    "turn on immutable releases (Settings > General > Releases > Enable release immutability), "
    "so GitHub locks each release's tag and assets once published"
)


# --- asset names ------------------------------------------------------------------------------


def asset_name(path: str) -> str | None:
    """The flat asset name of a release file, or None when GitHub would not keep it exactly."""
    segments = path.split("/")
    if segments[0].startswith("."):
        return None  # GitHub renames a leading dot ("default.<name>")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment) or FOLDER_SEP in segment:
            return None
    return FOLDER_SEP.join(segments)


def release_path(name: str) -> str:
    """The release file an asset name stands for (asset_name's inverse)."""
    return name.replace(FOLDER_SEP, "/")


def asset_names(paths: list[str], *, where: str) -> dict[str, str]:
    """path -> asset name for every file of a publish; ManifestError for one that has none."""
    mapped = {}
    for path in paths:
        name = asset_name(path)
        if name is None or release_path(name) != path:
            raise ManifestError(
                f"{where}: {path} cannot be a GitHub release asset name as it is",
                "GitHub keeps asset names of letters, digits, '.', '_' and '-' only: rename the "
                "file (no leading '.', no '--', no segment beginning or ending with '-'); "
                "see docs/stores.md",
            )
        mapped[path] = name
    lowered = {}
    for path, name in mapped.items():
        other = lowered.setdefault(name.lower(), path)
        if other != path:  # GitHub compares asset names without case
            raise ManifestError(f"{where}: {other} and {path} differ only in case")
    return mapped


# --- the body: MANIFEST.txt on show, the record below it -------------------------------------


def render_body(manifest_raw: bytes, records: Mapping[str, bytes]) -> str:
    text = manifest_raw.decode("utf-8")
    lines = ["```text", text.rstrip("\n"), "```", ""]
    lines += [
        f"<!-- tether-record {key} {base64.b64encode(data).decode('ascii')} -->"
        for key, data in sorted(records.items())
    ]
    return "\n".join(lines) + "\n"


def body_records(body: str | None) -> dict[str, bytes]:
    found = {}
    for key, data in _RECORD.findall(body or ""):
        with contextlib.suppress(binascii.Error, ValueError):
            found[key] = base64.b64decode(data, validate=True)
    return found


def body_manifest(body: str | None) -> str:
    """The MANIFEST text shown in a body (between the fences)."""
    match = re.search(r"```text\n(.*?)\n```", body or "", re.DOTALL)
    return (match[1] + "\n") if match else ""


def body_name(body: str | None) -> str | None:
    """The model a release belongs to: the name in its MANIFEST header line."""
    match = _HEADER.search(body or "")
    return match[1] if match else None


# --- the client -----------------------------------------------------------------------------------


def find_token(host: str) -> tuple[str | None, str]:
    """(token, where it came from) for ``host``: the environment, else ``gh auth token``."""
    names = (*GITHUB_ENTERPRISE_TOKEN_ENVS, *GITHUB_TOKEN_ENVS)
    if host == GITHUB_HOST:
        names = GITHUB_TOKEN_ENVS
    for env in names:
        value = os.environ.get(env, "").strip()
        if value:
            return value, f"${env}"
    gh = shutil.which("gh")
    if gh is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [gh, "auth", "token", "--hostname", host],
                capture_output=True,
                text=True,
                timeout=15,
                check=False,
            )
            token = done.stdout.strip()
            if done.returncode == 0 and token:
                return token, "gh auth token"
    return None, "no token"


class GitHubClient:
    """REST calls to one GitHub API base, with one token."""

    def __init__(self, host: str, api: str, repo: str) -> None:
        self.host, self.api, self.repo = host, api.rstrip("/"), repo
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": GITHUB_API_VERSION,
                "User-Agent": f"tether/{__version__}",
            }
        )
        pooled = requests.adapters.HTTPAdapter(pool_maxsize=MAX_STREAMS)
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, pooled)
        self._token: tuple[str | None, str] | None = None

    @property
    def token(self) -> tuple[str | None, str]:
        if self._token is None:
            self._token = find_token(self.host)
        return self._token

    def _hint(self) -> str:
        return (
            "set GITHUB_TOKEN (or GH_TOKEN) to a token with contents: write on the repository, "
            f"or run `gh auth login --hostname {self.host}`"
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        ok: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> requests.Response:
        """Send; raise tether's errors for auth, rate limits and statuses outside ``ok``
        (404 is returned when listed in ``ok``)."""
        url = url if "://" in url else f"{self.api}{url}"
        headers = dict(kwargs.pop("headers", None) or {})
        token, source = self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            resp = self.session.request(
                method, url, headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), **kwargs
            )
        except requests.RequestException as exc:
            raise StoreUnavailableError(
                f"cannot reach the GitHub API at {self.api} ({what}): {network_reason(exc)}",
                "check the network, and the host in the store URL (or $TETHER_GITHUB_API_URL)",
            ) from exc
        if resp.status_code in ok:
            return resp
        message = _message(resp)
        resp.close()
        if resp.status_code == 401:
            raise StoreAuthError(
                f"GitHub {self.host} refused the token from {source} ({what}): {message}",
                self._hint(),
            )
        if resp.status_code in (403, 429) and (
            resp.headers.get("X-RateLimit-Remaining") == "0" or "rate limit" in message.lower()
        ):
            raise StoreUnavailableError(
                f"GitHub {self.host} rate limit reached ({what}): {message}",
                "wait for the limit to reset (X-RateLimit-Reset), or use a token",
            )
        if resp.status_code == 403:
            raise StoreAuthError(
                f"GitHub {self.host} denied {what} on {self.repo} to the token from {source}: "
                f"{message}",
                self._hint(),
            )
        if resp.status_code == 404:
            raise StoreUnavailableError(
                f"GitHub {self.host} has no repository {self.repo}, or the token from {source} "
                f"cannot see it ({what})",
                "check owner/repo in the store URL; a private repository needs a token: "
                + self._hint(),
            )
        raise StoreUnavailableError(
            f"GitHub {self.host}: {what} on {self.repo} failed: HTTP {resp.status_code} {message}"
        )


def _message(resp: requests.Response) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return resp.reason or ""
    if not isinstance(doc, dict):
        return resp.reason or ""
    text = str(doc.get("message", "") or resp.reason or "")
    errors = doc.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, dict):
            text += f" ({first.get('field', '')} {first.get('code', '')})".replace("( ", "(")
    return text


def _already_exists(resp: requests.Response) -> bool:
    """GitHub's 422 for a tag another release holds."""
    try:
        errors = resp.json().get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(isinstance(e, dict) and e.get("code") == "already_exists" for e in errors)


# --- the store --------------------------------------------------------------------------------


@dataclass
class _Release:
    id: int
    name: str
    assets: dict[str, dict[str, Any]]  # release path -> asset document


class GitHubStore:
    """A store in one GitHub repository's Releases (see the module docstring)."""

    parallel = True  # assets come from GitHub's storage, which serves Range reads

    def __init__(self, url: str, client: GitHubClient) -> None:
        self.url = url
        self.client = client
        self.repo = client.repo
        self._committed: dict[tuple[str, str], _Release] = {}
        self._manifests: dict[tuple[str, str], Manifest] = {}

    def __repr__(self) -> str:
        return f"GitHubStore({self.url!r})"

    def _where(self, name: str, version: str) -> str:
        return f"{name} {release_tag(version)}"

    # --- reading --------------------------------------------------------------------------

    def _published(self) -> Iterator[dict[str, Any]]:
        """Every published release of the repository (drafts are not releases yet)."""
        url: str | None = f"/repos/{self.repo}/releases?per_page={PER_PAGE}"
        while url:
            resp = self.client.request("GET", url, what="listing releases")
            for doc in resp.json():
                if isinstance(doc, dict) and not doc.get("draft"):
                    yield doc
            url = resp.links.get("next", {}).get("url")

    def _tagged(self) -> Iterator[tuple[str, str]]:
        for doc in self._published():
            tag = str(doc.get("tag_name") or "")
            name = body_name(doc.get("body"))
            if not tag.startswith(RELEASE_TAG_PREFIX) or name is None:
                continue
            try:
                yield name, str(parse_release_tag(tag))
            except ValueError:
                continue

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._tagged()})

    def versions(self, name: str) -> list[str]:
        check_name(name)
        return [version for owner, version in self._tagged() if owner == name]

    def _by_tag(self, tag: str) -> dict[str, Any] | None:
        resp = self.client.request(
            "GET",
            f"/repos/{self.repo}/releases/tags/{quote(tag)}",
            what=f"reading {tag}",
            ok=(200, 404),
        )
        if resp.status_code == 404:
            resp.close()
            return None
        return cast(dict[str, Any], resp.json())

    def _release(self, name: str, version: str) -> _Release:
        key = (name, version)
        if key in self._committed:
            return self._committed[key]
        where = self._where(name, version)
        doc = self._by_tag(release_tag(version))
        owner = body_name(doc.get("body")) if doc else None
        if doc is None or doc.get("draft") or owner is None:
            raise ReleaseNotFoundError(f"{self.url} has no release {where}")
        if owner != name:
            raise ReleaseNotFoundError(
                f"{self.url} has no release {where}: tag {release_tag(version)} holds {owner}'s",
                f"use --name {owner}, or a repository per model",
            )
        assets = {}
        for asset in doc.get("assets") or []:
            path = release_path(str(asset.get("name", "")))
            try:
                check_relative_path(path, where=where)
            except ManifestError:
                log.warning("%s: asset %s is not a release file; ignored", where, asset.get("name"))
                continue
            assets[path] = asset
        if MANIFEST_FILE not in assets:
            raise ReleaseNotFoundError(
                f"{self.url}: release {where} has no {MANIFEST_FILE} asset (not a tether release)"
            )
        check_release_paths(list(assets), where=f"{where} in {self.url}")
        release = _Release(int(doc["id"]), name, assets)
        self._committed[key] = release
        return release

    def files(self, name: str, version: str) -> dict[str, int]:
        return {p: int(a.get("size") or 0) for p, a in self._release(name, version).assets.items()}

    def _manifest(self, name: str, version: str) -> Manifest:
        key = (name, version)
        if key not in self._manifests:
            with self.open_file(name, version, MANIFEST_FILE) as stream:
                raw = stream.read()
            self._manifests[key] = parse_manifest(
                raw, where=f"{self._where(name, version)} {MANIFEST_FILE}"
            )
        return self._manifests[key]

    def open_file(
        self, name: str, version: str, path: str, start: int = 0, end: int | None = None
    ) -> BinaryIO:
        where = f"{path} of {self._where(name, version)}"
        asset = self._release(name, version).assets.get(path)
        if asset is None:
            raise ReleaseNotFoundError(
                f"release {self._where(name, version)} in {self.url} has no file {path}"
            )
        digest = str(asset.get("digest") or "")
        if path != MANIFEST_FILE and digest:
            # GitHub's own digest of the asset, checked before a byte is downloaded
            listed = self._manifest(name, version).files.get(path)
            if listed is not None and digest != f"sha256:{listed}":
                raise IntegrityError(
                    f"{where}: GitHub's asset digest {digest[:19]}... does not match its "
                    f"MANIFEST.txt sha256 {listed[:12]}...",
                    "the asset was replaced after publishing; do not use this release (turn "
                    "on immutable releases to prevent this)",
                )
        size = int(asset.get("size") or 0)
        if start >= size:
            return io.BytesIO()
        headers = {"Accept": "application/octet-stream", "Accept-Encoding": "identity"}
        until = end if end is not None and end < size else None
        if start or until is not None:
            headers["Range"] = f"bytes={start}-{'' if until is None else until - 1}"
        # the API answers 302 to a signed storage URL; requests drops the token on that hop
        resp = self.client.request(
            "GET",
            str(asset["url"]),
            what=f"downloading {where}",
            ok=(200, 206, 416),
            headers=headers,
            stream=True,
        )
        if resp.status_code == 416:
            resp.close()
            return io.BytesIO()
        ranged = resp.status_code == 206
        if ranged and not resp.headers.get("Content-Range", "").startswith(f"bytes {start}-"):
            resp.close()
            raise StoreUnavailableError(f"GitHub answered a wrong range for {where}")
        offset = start if ranged else 0
        length = resp.headers.get("Content-Length", "")
        stop = offset + int(length) if length.isdigit() else size
        verify = digest if path == MANIFEST_FILE and not start and until is None else None
        body = _AssetBody(resp, where, offset, stop, verify)
        if start and not ranged:  # storage that ignored Range sent the whole file
            try:
                body.skip(start)
            except BaseException:
                body.close()
                raise
        return cast(BinaryIO, body)

    # --- facts ----------------------------------------------------------------------------

    def immutable_releases(self) -> bool | None:
        """Whether the repository has GitHub's immutable releases on; None when unknown."""
        try:
            resp = self.client.request(
                "GET",
                f"/repos/{self.repo}/immutable-releases",
                what="checking immutable releases",
                ok=(200, 404),
            )
        except (StoreAuthError, StoreUnavailableError):
            return None
        if resp.status_code == 404:
            return False
        try:
            return bool(resp.json().get("enabled"))
        except (ValueError, AttributeError):
            return None

    def facts(self) -> list[str]:
        """Lines about the store for `tether show`."""
        state = self.immutable_releases()
        if state:
            return ["immutable releases: on (GitHub locks each release's tag and assets)"]
        if state is None:
            return ["immutable releases: unknown (the token cannot read the setting)"]
        return [f"immutable releases: off; {_IMMUTABLE_HINT}"]

    # --- publishing -----------------------------------------------------------------------

    def publish(self, name: str, version: str, files: Mapping[str, Path]) -> None:
        tag = release_tag(version)
        where = self._where(name, version)
        manifest, manifest_raw = publish_manifest(name, version, files)
        names = asset_names(sorted(files), where=where)
        body = render_body(manifest_raw, {})
        if len(body) > GITHUB_BODY_LIMIT:
            raise ManifestError(f"{where}: MANIFEST.txt is too long for a GitHub release body")
        payload = check_payload(manifest, files, where)
        expected = {rel: manifest.files[rel] for rel in payload}
        expected[MANIFEST_FILE] = sha256_bytes(manifest_raw)
        self._refuse_existing(tag, where)
        draft = self.client.request(
            "POST",
            f"/repos/{self.repo}/releases",
            what=f"creating a draft of {where}",
            ok=(201, 422),
            json={
                "tag_name": tag,
                "name": f"{name} {tag}",
                "body": body,
                "draft": True,
                "prerelease": True,
            },
        )
        if draft.status_code == 422:
            lost = _already_exists(draft)
            message = _message(draft)
            draft.close()
            if lost:
                raise ReleaseExistsError(f"{self.url} already has {where} (tag {tag} is taken)")
            raise StoreUnavailableError(f"GitHub refused a draft of {where}: {message}")
        doc = draft.json()
        release_id = int(doc["id"])
        upload = str(doc["upload_url"]).split("{", 1)[0]
        published = False
        try:
            for rel in [*sorted(payload), MANIFEST_FILE]:
                self._upload(upload, names[rel], Path(files[rel]), expected[rel], where)
            if self._by_tag(tag) is not None:
                raise self._lost(where)
            resp = self.client.request(
                "PATCH",
                f"/repos/{self.repo}/releases/{release_id}",
                what=f"publishing {where}",
                ok=(200, 422),
                json={"draft": False, "prerelease": True, "make_latest": "false"},
            )
            if resp.status_code == 422:
                message = _message(resp)
                resp.close()
                if _already_exists(resp) or "already" in message:
                    raise self._lost(where)
                raise StoreUnavailableError(f"GitHub refused to publish {where}: {message}")
            published = True
            winner = self._by_tag(tag)
            if winner is None or int(winner["id"]) != release_id:
                raise self._lost(where)
        except BaseException:
            if not published:  # all or nothing: the draft never became a release
                self._delete_draft(release_id, where)
            raise

    def _lost(self, where: str) -> ReleaseExistsError:
        return ReleaseExistsError(
            f"{self.url} already has {where} (another publisher won the race; our draft was "
            "deleted)"
        )

    def _refuse_existing(self, tag: str, where: str) -> None:
        """Refuse before creating anything: a release, or a bare tag, already holds ``tag``."""
        if self._by_tag(tag) is not None:
            raise ReleaseExistsError(f"{self.url} already has {where}")
        resp = self.client.request(
            "GET",
            f"/repos/{self.repo}/git/ref/{quote(f'tags/{tag}', safe='')}",  # as octokit sends it
            what=f"looking up tag {tag}",
            ok=(200, 404, 409),
        )
        resp.close()
        if resp.status_code == 200:
            raise ReleaseExistsError(
                f"{self.url} already has {where}: tag {tag} exists (without a release)",
                f"releases never reuse a tag: publish another version, or delete tag {tag} if "
                "it was made by mistake",
            )

    def _upload(self, upload: str, asset: str, path: Path, sha256: str, where: str) -> None:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            resp = self.client.request(
                "POST",
                upload,
                what=f"uploading {asset} of {where}",
                ok=(201, 422),
                params={"name": asset},
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                data=UploadBody(handle, size),
            )
        if resp.status_code == 422:
            message = _message(resp)
            resp.close()
            raise StoreUnavailableError(
                f"GitHub refused asset {asset} of {where}: {message}",
                "another tool uploads to this draft; publish again",
            )
        doc = resp.json()
        digest = doc.get("digest")
        if int(doc.get("size", -1)) != size or (digest and digest != f"sha256:{sha256}"):
            raise IntegrityError(
                f"GitHub stored asset {asset} of {where} with size {doc.get('size')} and digest "
                f"{digest}, not the {size} bytes sent (sha256:{sha256[:12]}...)",
                "the upload was corrupted on the way; publish again",
            )

    def _delete_draft(self, release_id: int, where: str) -> None:
        try:
            resp = self.client.request(
                "DELETE",
                f"/repos/{self.repo}/releases/{release_id}",
                what=f"deleting the draft of {where}",
                ok=(204, 404),
            )
            resp.close()
        except Exception as exc:  # the original error matters more
            log.warning("could not delete draft release %s of %s: %s", release_id, where, exc)

    # --- records --------------------------------------------------------------------------

    def _fresh(self, name: str, version: str) -> dict[str, Any] | None:
        """The release's document as GitHub has it now (the body changes with the record)."""
        try:
            release = self._release(name, version)
        except ReleaseNotFoundError:
            return None
        resp = self.client.request(
            "GET", f"/repos/{self.repo}/releases/{release.id}", what="reading the record"
        )
        return cast(dict[str, Any], resp.json())

    def read_record(self, name: str, version: str, key: str) -> bytes | None:
        check_relative_path(key, where="record key")
        doc = self._fresh(name, version)
        return None if doc is None else body_records(doc.get("body")).get(key)

    def write_record(self, name: str, version: str, key: str, data: bytes) -> None:
        check_relative_path(key, where="record key")
        doc = self._fresh(name, version)
        where = self._where(name, version)
        if doc is None:
            raise ReleaseNotFoundError(f"{self.url} has no release {where}")
        records = body_records(doc.get("body"))
        records[key] = data
        raw = body_manifest(doc.get("body")).encode("utf-8")
        if not raw:  # a body edited by hand: show the MANIFEST asset again
            with self.open_file(name, version, MANIFEST_FILE) as stream:
                raw = stream.read()
        body = render_body(raw, records)
        if len(body) > GITHUB_BODY_LIMIT:
            raise StoreUnavailableError(
                f"the record of {where} would exceed GitHub's {GITHUB_BODY_LIMIT} characters "
                f"of release body ({key}: {len(data)} bytes)",
                "keep record documents small",
            )
        update: dict[str, Any] = {"body": body}
        if key == STATE_RECORD:
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                state = str(json.loads(data)["state"])
                update["name"] = f"{name} {release_tag(version)} ({state})"
        resp = self.client.request(
            "PATCH",
            f"/repos/{self.repo}/releases/{doc['id']}",
            what=f"writing {key} of {where}",
            json=update,
        )
        resp.close()

    def record_keys(self, name: str, version: str) -> list[str]:
        doc = self._fresh(name, version)
        return [] if doc is None else sorted(body_records(doc.get("body")))


class _AssetBody(HttpBody):
    """An asset download; MANIFEST.txt is checked against its GitHub digest when read whole."""

    network_errors = (*HttpBody.network_errors, requests.RequestException)
    mismatch = ("GitHub's asset digest", "the asset is corrupt or was replaced")

    def _describe(self, exc: BaseException) -> str:
        return network_reason(exc)


def open_github_store(url: str) -> GitHubStore:
    """A GitHubStore for ``github://[HOST/]owner/repo[?api=URL]``."""
    parsed, query = split_store_url(
        url,
        "github",
        form="github://owner/repo",
        options=("api",),
        credentials_fix="set GITHUB_TOKEN or run gh auth login",
    )
    parts = [parsed.netloc, *[p for p in parsed.path.split("/") if p]]
    if len(parts) == 2:
        host, owner, repo = GITHUB_HOST, parts[0], parts[1]
    elif len(parts) == 3:
        host, owner, repo = parts
    else:
        raise StoreURLError(
            f"GitHub store URL {url!r} does not name one repository",
            "use github://owner/repo, or github://HOST/owner/repo for GitHub Enterprise",
        )
    repo = repo.removesuffix(".git")
    for part in (owner, repo):
        if not re.fullmatch(r"[A-Za-z0-9._-]+", part):
            raise StoreURLError(f"{part!r} in {url!r} is not a GitHub owner or repository name")
    api = query.get("api") or os.environ.get(GITHUB_API_URL_ENV, "").strip()
    if not api:
        api = GITHUB_API_URL if host == GITHUB_HOST else f"https://{host}/api/v3"
    return GitHubStore(url, GitHubClient(host, api, f"{owner}/{repo}"))
