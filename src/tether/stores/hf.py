"""The Hugging Face Hub store: each release is a commit of a Hub repository, tagged.

URL: ``hf://[type/]org/name[@revision]``, huggingface_hub's own grammar: ``type`` is
``datasets`` or ``spaces`` (a model repository without it, or with ``models/``), and
``revision`` the branch releases are committed to (``main`` without it). The Hub is
``$HF_ENDPOINT`` (a mirror, a test server), else huggingface.co; the token ``$HF_TOKEN``,
else huggingface_hub's stored login (``hf auth login``); public repositories read without.

A release ``model-v1.0.1`` is one commit on the branch whose tree is exactly the release's
files (MANIFEST.txt included; every other file, ``.gitattributes`` too, is deleted in it),
and the tag ``model-v1.0.1`` on that commit, so ``snapshot_download(repo,
revision="model-v1.0.1")`` gives the release and nothing else. A repository's tags are one
namespace: one repository holds one version line (use a repository per model).

The Hub lets anyone with write access delete or move a tag, so immutability is tether's:
a publish refuses an existing tag; claims the tag before committing, by a commit to the
branch ``tether-records`` adding ``claims/model-v1.0.1/<name>.json`` made with
``parent_commit`` (the Hub's compare and swap: of two claimers one gets 412, looks again,
and finds the claim taken); commits the release with ``parent_commit`` too; tags it (the
Hub answers 409 on a taken tag); and reads the tag back. A lost race names both commits.

The record (state.json, EVAL.json, model.sig) lives on ``tether-records`` too, at
``records/<name>/model-v1.0.1/<key>``, so promote and withdraw never move the tag nor touch
the release commit. Reads resolve the tag to its commit once per store and read files by
commit (``/resolve/<commit>/<path>``, with Range); MANIFEST.txt is checked against the git
blob id the tree lists, every other file's LFS sha256 against MANIFEST before a byte is
fetched, and the bytes by the caller while streaming (the Hub does not verify downloads).

One repository per version, for users who name repositories by version: a ``{version}``
placeholder in the repository name, ``hf://org/phi3-avro-vllm-v{version}``, publishes 2.0.0
as repository ``org/phi3-avro-vllm-v2.0.0`` (created on publish), holding that release the
way above (commit, tag ``model-v2.0.0``, claim and records on its ``tether-records``). The
Hub's repository search is not served by mirrors (olah has no ``/api/models``) and lags on
the Hub, so versions are listed from an *index* repository, ``org/phi3-avro-vllm-releases``
(the name without the placeholder, a ``v`` just before it and the separators around it, plus
``-releases``): a publish first claims ``claims/model-v2.0.0/<name>.json`` on the index's
``tether-records`` (the same compare and swap), which serialises publishers of one version;
a claim is a release once its version's repository holds the tagged release. Reading one
version goes straight to its repository. One placeholder, in the repository name only; a
version that would make an invalid repository id is refused (tests/stores/test_hf.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import quote, unquote

import requests

from tether import __version__
from tether.errors import (
    IntegrityError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StoreAuthError,
    StoreUnavailableError,
    StoreURLError,
    shorten,
)
from tether.hashing import CHUNK_SIZE
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest
from tether.names import (
    HF_ENDPOINT,
    HF_ENDPOINT_ENV,
    HF_RECORD_BRANCH,
    HF_TOKEN_ENV,
    MAX_STREAMS,
)
from tether.paths import check_name, check_relative_path
from tether.stores._remote import RemoteBody, check_payload, publish_manifest
from tether.versioning import RELEASE_TAG_PREFIX, parse_release_tag, release_tag

log = logging.getLogger(__name__)

T = TypeVar("T")
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0
COMMIT_TRIES = 8  # a busy branch: other publishers' commits between our look and our commit
CLAIMS = "claims"
RECORDS = "records"
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
VERSION_PLACEHOLDER = "{version}"  # in the repository name: one repository per version
INDEX_SUFFIX = "-releases"  # the index repository of a per-version store lists its versions
_SEPARATORS = "-_."
_SAMPLE_VERSION = "0.0.0"  # stands for the placeholder when a pattern's name is checked
_INVALID_CARD = "Invalid metadata in README.md"  # huggingface_hub's ValueError for a refused card
_REPO_ID_RULE = "at most 96 letters, digits, '-', '_' and '.', no '--' or '..'"


def _git_blob_id(data: bytes) -> str:
    """The git blob id (sha1) of ``data``, what the Hub's tree lists for a non-LFS file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class HfLocation:
    repo_type: str  # model, dataset or space
    repo_id: str  # org/name
    branch: str

    @property
    def url_prefix(self) -> str:
        return "" if self.repo_type == "model" else f"{self.repo_type}s/"

    @property
    def url(self) -> str:
        """The hf:// URL of this location."""
        branch = "" if self.branch == "main" else f"@{quote(self.branch, safe='')}"
        return f"hf://{self.url_prefix}{self.repo_id}{branch}"

    @property
    def per_version(self) -> bool:
        """One repository per version: ``{version}`` in the repository name."""
        return VERSION_PLACEHOLDER in self.repo_id

    def for_version(self, version: str, url: str) -> HfLocation:
        """The repository of ``version`` (a normalised semver) of a per-version ``url``."""
        repo_id = self.repo_id.replace(VERSION_PLACEHOLDER, version)
        if not _valid_repo_id(repo_id):
            raise StoreURLError(
                f"version {version} would make the repository {shorten(repo_id)} of {url}, "
                f"which is no Hub repository id ({_REPO_ID_RULE})",
                "publish a version with a shorter pre-release label and without '--' or '..', "
                "or use one repository for every version: hf://org/name",
            )
        return HfLocation(self.repo_type, repo_id, self.branch)

    def index(self) -> HfLocation:
        """The index repository of a per-version location (see the module docstring)."""
        org, name = self.repo_id.split("/")
        return HfLocation(self.repo_type, f"{org}/{index_name(name)}", "main")


def index_name(pattern: str) -> str:
    """``phi3-avro-vllm-v{version}`` -> ``phi3-avro-vllm-releases``; "" when nothing is left."""
    before, _, after = pattern.partition(VERSION_PLACEHOLDER)
    if before[-1:] in ("v", "V") and (len(before) == 1 or before[-2] in _SEPARATORS):
        before = before[:-1]
    fixed = "-".join(p for p in (before.strip(_SEPARATORS), after.strip(_SEPARATORS)) if p)
    return f"{fixed}{INDEX_SUFFIX}" if fixed else ""


def _valid_repo_id(repo_id: str) -> bool:
    """What huggingface_hub (and the Hub) accept as ``org/name``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        return False
    return True


def parse_hf_url(url: str) -> HfLocation:
    """``hf://[type/]org/name[@revision]`` -> where releases go (``{version}`` in the name:
    one repository per version)."""
    if not url.startswith("hf://"):
        raise StoreURLError(f"not a Hugging Face store URL: {url!r}", "use hf://org/name")
    rest = url[len("hf://") :]
    if "?" in rest or "#" in rest:
        raise StoreURLError(
            f"the store URL {url!r} has options; hf:// takes none",
            f"set ${HF_ENDPOINT_ENV} for another Hub, ${HF_TOKEN_ENV} for the token",
        )
    per_version = "hf://org/name-v{version}"
    holes = rest.count(VERSION_PLACEHOLDER)
    stray = rest.replace(VERSION_PLACEHOLDER, "")
    if "{" in stray or "}" in stray:
        raise StoreURLError(
            f"the store URL {url!r} has a placeholder other than {VERSION_PLACEHOLDER}",
            f"the only placeholder is {VERSION_PLACEHOLDER}, in the repository name: {per_version}",
        )
    if holes > 1:
        raise StoreURLError(
            f"the store URL {url!r} has {holes} {VERSION_PLACEHOLDER} placeholders; it takes one",
            f"put one {VERSION_PLACEHOLDER} in the repository name: {per_version}",
        )
    path, _, revision = rest.partition("@")
    parts = [p for p in path.split("/") if p]
    repo_type = "model"
    if len(parts) == 3 and parts[0] in _TYPES:
        repo_type = _TYPES[parts.pop(0)]
    if len(parts) != 2 or any(
        not p.replace(VERSION_PLACEHOLDER, _SAMPLE_VERSION)
        .replace("-", "")
        .replace("_", "")
        .replace(".", "")
        .isalnum()
        for p in parts
    ):
        raise StoreURLError(
            f"Hugging Face store URL {url!r} does not name one repository",
            "use hf://org/name, hf://datasets/org/name or hf://org/name@branch",
        )
    if holes and VERSION_PLACEHOLDER not in parts[1]:
        raise StoreURLError(
            f"the store URL {url!r} has {VERSION_PLACEHOLDER} outside the repository name",
            "only the repository name may hold it, not the organisation or the branch: "
            f"{per_version}",
        )
    repo_id = "/".join(parts)
    if not _valid_repo_id(repo_id.replace(VERSION_PLACEHOLDER, _SAMPLE_VERSION)):
        raise StoreURLError(
            f"Hugging Face store URL {url!r} does not name a valid repository ({_REPO_ID_RULE})",
            "use hf://org/name with a name the Hub accepts",
        )
    branch = unquote(revision) if revision else "main"
    if branch == HF_RECORD_BRANCH or branch.startswith(RELEASE_TAG_PREFIX):
        raise StoreURLError(f"{branch!r} in {url!r} cannot hold releases (tether uses it)")
    location = HfLocation(repo_type, repo_id, branch)
    if holes and not index_name(parts[1]):
        raise StoreURLError(
            f"the repository name of {url!r} is only {VERSION_PLACEHOLDER}: its versions "
            "would have no index repository to be listed from",
            f"give the name a fixed part: {per_version}",
        )
    if holes and not _valid_repo_id(location.index().repo_id):
        raise StoreURLError(
            f"the index repository {location.index().repo_id} of {url!r} is no valid Hub "
            f"repository id ({_REPO_ID_RULE})",
            "use a shorter repository name",
        )
    return location


class HfStore:
    """A store in one Hugging Face Hub repository (see the module docstring)."""

    parallel = False  # olah and some mirrors ignore Range; the Hub's CDN would serve it

    def __init__(self, url: str, location: HfLocation, endpoint: str, token: str | None) -> None:
        from huggingface_hub import HfApi

        self.url = url
        self.location = location
        self.endpoint = endpoint.rstrip("/")
        self.api = HfApi(
            endpoint=self.endpoint, token=token, library_name="tether", library_version=__version__
        )
        self.token = token
        self.session = requests.Session()
        pooled = requests.adapters.HTTPAdapter(pool_maxsize=MAX_STREAMS)
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, pooled)
        self._commits: dict[str, str] = {}  # tag -> commit, resolved once: reads stay on it
        self._manifests: dict[tuple[str, str], tuple[Manifest, dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"HfStore({self.url!r})"

    @property
    def repo(self) -> str:
        return self.location.repo_id

    def _where(self, name: str, version: str) -> str:
        return f"{name} {release_tag(version)}"

    # --- calls to the Hub ---------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T], *, ok: tuple[int, ...] = ()) -> T | int:
        """Run one HfApi call; tether's errors for the Hub's. A status in ``ok`` is returned."""
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError

        try:
            return fn()
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in ok:
                return status
            message = (exc.server_message or str(exc)).strip().splitlines()
            reason = message[0][:200] if message else ""
            if status in (401, 403):
                raise StoreAuthError(
                    f"the Hub at {self.endpoint} refused {what} on {self.repo}: {reason}",
                    f"set ${HF_TOKEN_ENV} to a token with write access to {self.repo}, or run "
                    "`hf auth login`",
                ) from exc
            if status == 404:
                raise StoreUnavailableError(
                    f"the Hub at {self.endpoint} has no repository {self.repo} ({what}), or the "
                    "token cannot see it",
                    f"check the store URL; a private repository needs ${HF_TOKEN_ENV}",
                ) from exc
            raise StoreUnavailableError(
                f"the Hub at {self.endpoint}: {what} on {self.repo} failed: HTTP {status} {reason}"
            ) from exc
        except (httpx2.TransportError, OSError) as exc:
            raise StoreUnavailableError(
                f"cannot reach the Hub at {self.endpoint} ({what}): {exc}",
                f"check the network, and ${HF_ENDPOINT_ENV}",
            ) from exc
        except ValueError as exc:  # the Hub's /api/validate-yaml refused a README.md
            if not str(exc).startswith(_INVALID_CARD):
                raise
            reasons = "; ".join(
                line.lstrip("- ").strip() for line in str(exc).splitlines()[1:] if line.strip()
            )
            raise StoreUnavailableError(
                f"the Hub at {self.endpoint} refused the README.md (model card) of {what} on "
                f"{self.repo}: {reasons[:200] or 'invalid metadata'}",
                "fix the YAML front matter of README.md in the released folder, or remove "
                "README.md to get a generated card (tests/stores/test_hf.py)",
            ) from exc

    def _refs(self) -> tuple[dict[str, str], dict[str, str]]:
        """(branch -> commit, tag -> commit) as the Hub has them now."""
        loc = self.location
        refs = self._call(
            "listing refs",
            lambda: self.api.list_repo_refs(loc.repo_id, repo_type=loc.repo_type),
            ok=(404,),
        )
        if isinstance(refs, int):
            return {}, {}
        return (
            {b.name: b.target_commit for b in refs.branches},
            {t.name: t.target_commit for t in refs.tags},
        )

    def _tree(self, commit: str, folder: str | None = None) -> dict[str, Any]:
        """path -> RepoFile of every file at ``commit`` (below ``folder``)."""
        from huggingface_hub.hf_api import RepoFile

        loc = self.location

        def listing() -> dict[str, Any]:
            entries = self.api.list_repo_tree(
                loc.repo_id,
                path_in_repo=folder,
                revision=commit,
                repo_type=loc.repo_type,
                recursive=True,
            )
            return {e.path: e for e in entries if isinstance(e, RepoFile)}

        found = self._call(f"listing the files of {commit[:12]}", listing, ok=(404,))
        return {} if isinstance(found, int) else found

    def _claims(self, records_head: str | None) -> dict[str, str]:
        """tag -> the name claiming it, on the records branch."""
        if records_head is None:
            return {}
        claims = {}
        for path in self._tree(records_head, CLAIMS):
            parts = path.split("/")
            if len(parts) == 3 and parts[2].endswith(".json"):
                claims[parts[1]] = parts[2].removesuffix(".json")
        return claims

    # --- reading ------------------------------------------------------------------------------

    def _tagged(self) -> Iterator[tuple[str, str, str]]:
        """(name, version, commit) of every release: a tag with a tether claim on it."""
        branches, tags = self._refs()
        claims = self._claims(branches.get(HF_RECORD_BRANCH))
        for tag, commit in tags.items():
            name = claims.get(tag)
            if name is None or not tag.startswith(RELEASE_TAG_PREFIX):
                continue
            try:
                yield name, str(parse_release_tag(tag)), commit
            except ValueError:
                continue

    def names(self) -> list[str]:
        return sorted({name for name, _, _ in self._tagged()})

    def versions(self, name: str) -> list[str]:
        check_name(name)
        return [version for owner, version, _ in self._tagged() if owner == name]

    def _commit(self, name: str, version: str) -> str:
        tag = release_tag(version)
        if tag not in self._commits:
            for owner, found, commit in self._tagged():
                if owner == name and found == version:
                    self._commits[tag] = commit
                    break
            else:
                raise ReleaseNotFoundError(
                    f"{self.url} has no release {self._where(name, version)}"
                )
        return self._commits[tag]

    def _release(self, name: str, version: str) -> tuple[Manifest, dict[str, Any]]:
        """The release's MANIFEST (checked against its git blob id) and its commit's tree."""
        key = (name, version)
        if key not in self._manifests:
            where = self._where(name, version)
            commit = self._commit(name, version)
            tree = self._tree(commit)
            entry = tree.get(MANIFEST_FILE)
            if entry is None:
                raise ReleaseNotFoundError(f"{where} on {self.url} has no {MANIFEST_FILE}")
            with self._get(commit, MANIFEST_FILE, where) as resp:
                raw = resp.content
            if entry.lfs is None and _git_blob_id(raw) != entry.blob_id:
                raise IntegrityError(
                    f"{MANIFEST_FILE} of {where} does not match its commit {commit[:12]}",
                    "the server sent other bytes than the commit holds; nothing was activated",
                )
            manifest = parse_manifest(raw, where=f"{where} {MANIFEST_FILE}")
            for rel, sha in manifest.files.items():
                listed = tree.get(rel)
                if listed is None:
                    raise IntegrityError(
                        f"{where}: {rel} is listed in {MANIFEST_FILE} but not "
                        f"in commit {commit[:12]}"
                    )
                if listed.lfs is not None and listed.lfs.sha256 != sha:
                    raise IntegrityError(
                        f"{where}: {rel} in commit {commit[:12]} does not match {MANIFEST_FILE} "
                        f"(LFS sha256 {listed.lfs.sha256[:12]}..., listed {sha[:12]}...)",
                        "the release's files were replaced; nothing was activated",
                    )
            self._manifests[key] = (manifest, tree)
        return self._manifests[key]

    def files(self, name: str, version: str) -> dict[str, int]:
        check_name(name)
        manifest, tree = self._release(name, version)
        return {rel: int(tree[rel].size) for rel in [*manifest.files, MANIFEST_FILE]}

    def _resolve_url(self, commit: str, path: str) -> str:
        loc = self.location
        return f"{self.endpoint}/{loc.url_prefix}{loc.repo_id}/resolve/{commit}/{quote(path)}"

    def _get(
        self, commit: str, path: str, where: str, headers: dict[str, str] | None = None
    ) -> requests.Response:
        from huggingface_hub.utils import build_hf_headers

        # the token as HfApi finds it ($HF_TOKEN, else the stored login); requests drops the
        # Authorization header when a redirect leaves the host (the Hub's CDN)
        headers = {
            **build_hf_headers(
                token=self.token, library_name="tether", library_version=__version__
            ),
            **(headers or {}),
        }
        try:
            resp = self.session.get(
                self._resolve_url(commit, path),
                headers=headers,
                stream=True,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            )
        except requests.RequestException as exc:
            raise StoreUnavailableError(
                f"cannot reach the Hub at {self.endpoint} (downloading {path} of {where}): {exc}"
            ) from exc
        if resp.status_code in (200, 206, 416):
            return resp
        resp.close()
        if resp.status_code == 404:
            raise ReleaseNotFoundError(f"{where} on {self.url} has no file {path}")
        if resp.status_code in (401, 403):
            raise StoreAuthError(
                f"the Hub at {self.endpoint} refused downloading {path} of {where}",
                f"set ${HF_TOKEN_ENV} to a token that can read {self.repo}",
            )
        raise StoreUnavailableError(
            f"the Hub at {self.endpoint}: downloading {path} of {where} failed: HTTP "
            f"{resp.status_code}"
        )

    def open_file(
        self, name: str, version: str, path: str, start: int = 0, end: int | None = None
    ) -> BinaryIO:
        check_relative_path(path, where="release file")
        where = f"{self._where(name, version)} {path}"
        sizes = self.files(name, version)
        if path not in sizes:
            raise ReleaseNotFoundError(f"{self._where(name, version)} has no file {path}")
        size = sizes[path]
        until = size if end is None else min(end, size)
        if start >= until:
            return io.BytesIO()
        resp = self._get(
            self._commit(name, version), path, where, {"Range": f"bytes={start}-{until - 1}"}
        )
        if resp.status_code == 416:
            resp.close()
            return io.BytesIO()
        ranged = resp.status_code == 206
        body = _HubBody(resp, where, start if ranged else 0, until if ranged else size)
        if start and not ranged:  # a server that ignores Range (olah) sent the whole file
            try:
                body.skip(start)
            except BaseException:
                body.close()
                raise
        return cast(BinaryIO, body)

    # --- publishing ---------------------------------------------------------------------------

    def publish(self, name: str, version: str, files: Mapping[str, Path]) -> None:
        tag = release_tag(version)
        where = self._where(name, version)
        manifest, _ = publish_manifest(name, version, files)
        check_payload(manifest, files, where)
        self._ensure_repo()
        branches, tags = self._refs()
        if tag in tags:
            raise ReleaseExistsError(
                f"{self.url} already has {where}"
                + (
                    ""
                    if tag in self._claims(branches.get(HF_RECORD_BRANCH))
                    else f": tag {tag} exists (not made by tether)"
                ),
                f"releases never reuse a tag: publish another version, or delete tag {tag} if "
                "it was made by mistake",
            )
        claim = self._claim(name, tag, where)
        try:
            commit = self._commit_release(name, version, files, where)
            status = self._call(
                f"tagging {where}",
                lambda: self.api.create_tag(
                    self.repo,
                    tag=tag,
                    revision=commit,
                    tag_message=f"{name} {tag}",
                    repo_type=self.location.repo_type,
                ),
                ok=(409,),
            )
            _, tags = self._refs()
            if status == 409 or tags.get(tag) != commit:
                raise ReleaseExistsError(
                    f"{self.url} already has {where} (another publisher won the race: tag {tag} "
                    f"is on commit {tags.get(tag, 'unknown')[:12]}, ours was {commit[:12]})",
                    "the winner's release stands; publish another version",
                )
        except BaseException:
            self._unclaim(claim, where)
            raise
        self._commits[tag] = commit

    def _ensure_repo(self) -> None:
        loc = self.location
        self._call(
            "creating the repository",
            lambda: self.api.create_repo(loc.repo_id, repo_type=loc.repo_type, exist_ok=True),
        )
        branches, _ = self._refs()
        for branch in (loc.branch, HF_RECORD_BRANCH):  # both start at main's head
            if branch not in branches:
                self._call(
                    f"creating branch {branch}",
                    lambda b=branch: self.api.create_branch(  # type: ignore[misc]
                        loc.repo_id, branch=b, repo_type=loc.repo_type, exist_ok=True
                    ),
                )

    def _records_commit(self, what: str, make: Callable[[str], list[Any] | None]) -> str | None:
        """Commit ``make(head)``'s operations to the records branch on top of its head,
        again while another writer moves it; None when ``make`` returns None."""
        for _ in range(COMMIT_TRIES):
            branches, _ = self._refs()
            head = branches.get(HF_RECORD_BRANCH)
            if head is None:
                raise StoreUnavailableError(f"{self.url} has no branch {HF_RECORD_BRANCH} ({what})")
            operations = make(head)
            if operations is None:
                return None
            done = self._call(
                what,
                lambda ops=operations, parent=head: self.api.create_commit(  # type: ignore[misc]
                    self.repo,
                    operations=ops,
                    commit_message=what,
                    revision=HF_RECORD_BRANCH,
                    repo_type=self.location.repo_type,
                    parent_commit=parent,
                ),
                ok=(409, 412),
            )
            if not isinstance(done, int):
                return str(done.oid)
        raise StoreUnavailableError(
            f"{what} on {self.url}: branch {HF_RECORD_BRANCH} kept moving",
            "another tool writes to it continuously; try again",
        )

    def _claim(self, name: str, tag: str, where: str) -> str:
        from huggingface_hub import CommitOperationAdd

        path = f"{CLAIMS}/{tag}/{name}.json"
        doc = json.dumps(
            {"name": name, "tag": tag, "publisher": uuid.uuid4().hex}, sort_keys=True
        ).encode()

        def claim(head: str) -> list[Any]:
            taken = [p for p in self._tree(head, f"{CLAIMS}/{tag}")]
            if taken:
                owner = taken[0].rsplit("/", 1)[-1].removesuffix(".json")
                raise ReleaseExistsError(
                    f"{self.url} already has {where} (claimed by {owner}: another publisher is "
                    "publishing it, or did)",
                    f"publish another version; a publish that died leaves {taken[0]} on branch "
                    f"{HF_RECORD_BRANCH}: delete it if no release {tag} exists",
                )
            return [CommitOperationAdd(path_in_repo=path, path_or_fileobj=doc)]

        self._records_commit(f"claim {tag} for {name}", claim)
        return path

    def _unclaim(self, path: str, where: str) -> None:
        from huggingface_hub import CommitOperationDelete

        try:
            self._records_commit(
                f"release the claim on {where}",
                lambda head: (
                    [CommitOperationDelete(path_in_repo=path)]
                    if path in self._tree(head, path.rsplit("/", 1)[0])
                    else None
                ),
            )
        except Exception as exc:  # the original error matters more
            log.warning("could not remove the claim %s of %s: %s", path, where, exc)

    def _commit_release(
        self, name: str, version: str, files: Mapping[str, Path], where: str
    ) -> str:
        """One commit on the branch whose tree is exactly ``files``."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()  # tether reports progress itself; tqdm lines would garble it
        loc = self.location
        for _ in range(COMMIT_TRIES):
            branches, _ = self._refs()
            head = branches.get(loc.branch)
            stale = sorted(set(self._tree(head)) - set(files)) if head else []
            operations: list[Any] = [
                CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(files[rel]))
                for rel in sorted(files)
            ]
            operations += [CommitOperationDelete(path_in_repo=rel) for rel in stale]
            done = self._call(
                f"committing {where}",
                lambda ops=operations, parent=head: self.api.create_commit(  # type: ignore[misc]
                    loc.repo_id,
                    operations=ops,
                    commit_message=f"{name} {release_tag(version)}",
                    revision=loc.branch,
                    repo_type=loc.repo_type,
                    parent_commit=parent,
                ),
                ok=(409, 412),
            )
            if not isinstance(done, int):
                return str(done.oid)
        raise StoreUnavailableError(
            f"committing {where} to {self.url}: branch {loc.branch} kept moving",
            "another tool commits to it continuously; try again",
        )

    # --- records ------------------------------------------------------------------------------

    def _record_path(self, name: str, version: str, key: str = "") -> str:
        base = f"{RECORDS}/{name}/{release_tag(version)}"
        return f"{base}/{key}" if key else base

    def read_record(self, name: str, version: str, key: str) -> bytes | None:
        check_relative_path(key, where="record key")
        branches, _ = self._refs()
        head = branches.get(HF_RECORD_BRANCH)
        if head is None:
            return None
        path = self._record_path(name, version, key)
        entry = self._tree(head, path.rsplit("/", 1)[0]).get(path)
        if entry is None:  # look before asking: a mirror may answer 500 for a missing file
            return None
        with contextlib.closing(self._get(head, path, self._where(name, version))) as resp:
            data = resp.content
        if _git_blob_id(data) != entry.blob_id:
            raise IntegrityError(
                f"{key} of {self._where(name, version)} does not match branch "
                f"{HF_RECORD_BRANCH} at {head[:12]}"
            )
        return data

    def write_record(self, name: str, version: str, key: str, data: bytes) -> None:
        from huggingface_hub import CommitOperationAdd

        check_relative_path(key, where="record key")
        self._commit(name, version)  # ReleaseNotFoundError for no release
        path = self._record_path(name, version, key)
        self._records_commit(
            f"{key} of {self._where(name, version)}",
            lambda head: [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)],
        )

    def record_keys(self, name: str, version: str) -> list[str]:
        branches, _ = self._refs()
        head = branches.get(HF_RECORD_BRANCH)
        if head is None:
            return []
        base = self._record_path(name, version)
        return sorted(p[len(base) + 1 :] for p in self._tree(head, base))


class _HubBody(RemoteBody):
    """A download from the resolve URL, read from the http.client response beneath urllib3
    straight into the caller's buffer (as tether.stores.github does)."""

    network_errors = (*RemoteBody.network_errors, requests.RequestException)

    def __init__(self, resp: requests.Response, where: str, start: int, size: int) -> None:
        super().__init__(where, start, size)
        self._resp = resp
        beneath = getattr(resp.raw, "_fp", None)
        encoded = resp.headers.get("Content-Encoding", "identity") != "identity"
        self._fill_from = beneath.readinto if beneath is not None and not encoded else None

    def _fill(self, buffer: memoryview) -> int:
        if self._fill_from is not None:
            return self._fill_from(buffer) or 0
        data = self._resp.raw.read(len(buffer), decode_content=True)
        buffer[: len(data)] = data
        return len(data)

    def skip(self, count: int) -> None:
        scratch = memoryview(bytearray(min(count, CHUNK_SIZE)))
        while count and (n := self.readinto(scratch[: min(count, len(scratch))])):
            count -= n

    def _release(self) -> None:
        self._resp.close()


class HfVersionedStore:
    """A store with one Hub repository per version, listed from an index repository (see
    the module docstring): each version's repository is an HfStore of its own."""

    parallel = False  # as HfStore

    def __init__(self, url: str, location: HfLocation, endpoint: str, token: str | None) -> None:
        self.url = url
        self.location = location
        self.endpoint = endpoint
        self.token = token
        index = location.index()
        self.index = HfStore(index.url, index, endpoint, token)
        self._stores: dict[str, HfStore] = {}  # version -> the store of its repository

    def __repr__(self) -> str:
        return f"HfVersionedStore({self.url!r})"

    def store_for(self, version: str) -> HfStore:
        """The store of ``version``'s own repository (StoreURLError if it cannot have one)."""
        bare = release_tag(version).removeprefix(RELEASE_TAG_PREFIX)
        if bare not in self._stores:
            location = self.location.for_version(bare, self.url)
            self._stores[bare] = HfStore(location.url, location, self.endpoint, self.token)
        return self._stores[bare]

    def _released(self) -> Iterator[tuple[str, str]]:
        """(name, version) of every release: a claim in the index whose version's repository
        holds that release, tagged (the claim of a publish under way, or that died, is none)."""
        branches, _ = self.index._refs()
        for tag, name in sorted(self.index._claims(branches.get(HF_RECORD_BRANCH)).items()):
            try:
                version = str(parse_release_tag(tag))
                store = self.store_for(version)
            except ValueError:  # InvalidTagError, StoreURLError: not a release of this pattern
                continue
            for owner, found, commit in store._tagged():
                if owner == name and found == version:
                    store._commits.setdefault(tag, commit)
                    yield name, version

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._released()})

    def versions(self, name: str) -> list[str]:
        check_name(name)
        return [version for owner, version in self._released() if owner == name]

    def files(self, name: str, version: str) -> dict[str, int]:
        return self.store_for(version).files(name, version)

    def open_file(
        self, name: str, version: str, path: str, start: int = 0, end: int | None = None
    ) -> BinaryIO:
        return self.store_for(version).open_file(name, version, path, start, end)

    def publish(self, name: str, version: str, files: Mapping[str, Path]) -> None:
        store = self.store_for(version)  # an invalid repository id is refused before any write
        tag = release_tag(version)
        where = store._where(name, version)
        _, tags = store._refs()
        if tag in tags:  # said before claiming: the plain "already has", naming the repository
            raise ReleaseExistsError(
                f"{self.url} already has {where} (tag {tag} of {store.repo})",
                "releases never reuse a tag: publish another version",
            )
        self.index._ensure_repo()
        claim = self.index._claim(name, tag, where)  # of two publishers of a version, one
        try:
            store.publish(name, version, files)
        except BaseException:
            # A release whose tag was made stays listed; unsure (no answer): keep the claim too.
            if not _may_hold_tag(store, tag):
                self.index._unclaim(claim, where)
            raise

    def read_record(self, name: str, version: str, key: str) -> bytes | None:
        return self.store_for(version).read_record(name, version, key)

    def write_record(self, name: str, version: str, key: str, data: bytes) -> None:
        self.store_for(version).write_record(name, version, key, data)

    def record_keys(self, name: str, version: str) -> list[str]:
        return self.store_for(version).record_keys(name, version)


def _may_hold_tag(store: HfStore, tag: str) -> bool:
    """Whether ``store`` has ``tag``, True when its refs cannot be read."""
    try:
        _, tags = store._refs()
    except Exception:
        return True
    return tag in tags


def open_hf_store(url: str) -> HfStore | HfVersionedStore:
    """The store of ``hf://[type/]org/name[@revision]``; with ``{version}`` in the name, one
    repository per version."""
    location = parse_hf_url(url)
    endpoint = os.environ.get(HF_ENDPOINT_ENV, "").strip() or HF_ENDPOINT
    token = os.environ.get(HF_TOKEN_ENV, "").strip() or None
    if location.per_version:
        return HfVersionedStore(url, location, endpoint, token)
    return HfStore(url, location, endpoint, token)
