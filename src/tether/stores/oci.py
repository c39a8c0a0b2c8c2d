"""The OCI registry store: releases as CNCF ModelPack artifacts on any OCI registry.

URL: ``oci://host[:port]/prefix[?insecure=1]``. Model ``name`` lives in repository
``<prefix>/<name>``; release ``1.0.1`` is the manifest tagged ``model-v1.0.1``:

* ``artifactType`` ``application/vnd.cncf.model.manifest.v1+json``; one layer per file
  (``...weight.v1.raw`` for model files, ``...weight.config.v1.raw`` for tokenizer,
  profile, probe and other small files, ``...doc.v1.raw`` for MANIFEST.txt, provenance and
  the model card), each annotated with ``org.cncf.model.filepath``; a ModelPack config blob
  (descriptor name/version/revision/createdAt, format/precision/quantization, diff_ids).
* The release's record (state.json, ...) lives beside it: one small artifact per key,
  tagged ``rec_model-v1.0.1_<key>``, whose ``subject`` is the release manifest and whose
  annotations carry the state. Changing the state re-tags the record, never the release.
  Only release tags start with ``model-v``, so a registry rule "tags matching model-v*
  are immutable" protects releases and leaves records (and claims) writable.

The client is a thin one on ``requests`` over the few Distribution API calls tether needs
(see docs/stores.md for why not oras-py): blobs stream from the file in both directions
with bounded memory, pulls resume with ``Range``, MANIFEST.txt is checked against its layer
digest (every other file against MANIFEST.txt, by the caller).

Tags are mutable on most registries (Distribution overwrites silently), so immutability is
enforced here: a publisher checks the tag, uploads the blobs, then takes a short *claim*
(a tiny manifest tagged ``claim_model-v1.0.1_<random>``), lists the tags, and proceeds only
when no other live claim is there; it re-checks the tag, pushes the manifest, re-reads the
tag and drops the claim. Two claimants that see each other both back off and retry after a
random pause, so of two racing tether publishers exactly one tags the release. A writer
that ignores claims (another tool) is caught by the re-read, reported with both digests.
Server-side tag immutability (docs/stores.md) closes that last gap.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import requests

from tether import __version__
from tether.errors import (
    IntegrityError,
    InvalidNameError,
    ManifestError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StoreAuthError,
    StoreUnavailableError,
    StoreURLError,
    shorten,
)
from tether.hashing import sha256_bytes
from tether.manifest import MANIFEST_FILE, PROVENANCE_FILE, Manifest
from tether.names import HF_CONFIG_FILE, MAX_STREAMS, PROFILE_FILE, STATE_RECORD
from tether.names import OCI_INSECURE_ENV as INSECURE_ENV
from tether.paths import check_name, check_relative_path, check_release_paths
from tether.profile import Profile
from tether.stores._remote import HttpBody, UploadBody, network_reason, publish_manifest
from tether.stores.oci_auth import (
    DOCKER_HUB_HOSTS,
    PASSWORD_ENV,
    USERNAME_ENV,
    Challenge,
    Credentials,
    Token,
    find_credentials,
    parse_token_response,
    parse_www_authenticate,
    token_request_params,
)
from tether.versioning import RELEASE_TAG_PREFIX, parse_release_tag, release_tag

log = logging.getLogger(__name__)

# --- media types and annotations ----------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MODEL_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json"
MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json"
WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"
DOC = "application/vnd.cncf.model.doc.v1.raw"
FILEPATH = "org.cncf.model.filepath"
TITLE = "org.opencontainers.image.title"
FILE_METADATA = "org.cncf.model.file.metadata+json"
EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_DATA = b"{}"
RECORD_ARTIFACT = "application/vnd.tether.record.v1"
CLAIM_ARTIFACT = "application/vnd.tether.claim.v1"

ANN_RELEASE = "dev.tether.release"
ANN_MANIFEST_SHA256 = "dev.tether.manifest.sha256"
ANN_RECORD_KEY = "dev.tether.record.key"
ANN_STATE = "dev.tether.state"
ANN_CLAIM_AT = "dev.tether.claim.at"
ANN_CLAIM_DONE = "dev.tether.claim.done"

ACCEPT = f"{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}"

#: Files that are the model itself; other small files are its configuration.
_WEIGHT_SUFFIXES = (
    ".onnx", ".onnx_data", ".ort", ".gguf", ".safetensors", ".bin", ".pt", ".pth", ".ckpt",
    ".h5", ".keras", ".tflite", ".pb", ".msgpack", ".npz", ".npy", ".mlmodel", ".data",
)  # fmt: skip
_DOC_NAMES = (MANIFEST_FILE, PROVENANCE_FILE)
_FORMATS = {".onnx": "onnx", ".gguf": "gguf", ".safetensors": "safetensors", ".pt": "pytorch"}

# --- tags -----------------------------------------------------------------------------------

#: Separates a release tag from what hangs off it (records, claims): never part of a semver.
#: (``_`` cannot occur in a semver: ``rec_model-v1.0.0-rc.1_state.json`` splits unambiguously.)
SEP = "_"
RECORD_PREFIX = "rec_"
CLAIM_PREFIX = "claim_"
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_REPO_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_KEY_SAFE = re.compile(r"[A-Za-z0-9.-]")

# --- network --------------------------------------------------------------------------------

CONNECT_TIMEOUT = 5.0  # a registry that is not there fails fast
READ_TIMEOUT = 120.0
CLAIM_STALE_SECONDS = 120.0  # a claim older than this (server clock) was left by a crash
CLAIM_ATTEMPTS = 40


def layer_media_type(rel: str) -> str:
    """ModelPack media type of a release file: weight, weight config, or doc."""
    base = rel.rsplit("/", 1)[-1]
    lower = base.lower()
    if base in _DOC_NAMES or lower.endswith((".md", ".rst")) or lower.startswith("license"):
        return DOC
    if lower.endswith(_WEIGHT_SUFFIXES) or ".onnx_data" in lower:
        return WEIGHT
    return WEIGHT_CONFIG


def record_tag(tag: str, key: str) -> str:
    """The tag of a record document: ``rec_model-v1.0.0_state.json``; other characters of
    the key (``/``, ``_``, ...) are written ``_xx`` (hex of each UTF-8 byte)."""
    encoded = "".join(
        char if _KEY_SAFE.match(char) else "".join(f"_{b:02x}" for b in char.encode())
        for char in key
    )
    result = f"{RECORD_PREFIX}{tag}{SEP}{encoded}"
    if not _TAG.match(result):
        raise InvalidNameError(
            f"record key {key!r} is too long for an OCI tag ({len(result)} > 128 characters)",
            "use a shorter record key",
        )
    return result


def record_key(tag: str, candidate: str) -> str | None:
    """The record key a tag stands for, or None when it is not a record of ``tag``."""
    prefix = f"{RECORD_PREFIX}{tag}{SEP}"
    if not candidate.startswith(prefix):
        return None
    encoded = candidate[len(prefix) :]
    try:
        raw = re.sub(rb"_([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), encoded.encode("ascii"))
        return raw.decode("utf-8")
    except (UnicodeError, ValueError):
        return None


# --- the HTTP client -------------------------------------------------------------------------


def _errors(resp: requests.Response) -> list[dict[str, Any]]:
    """The ``errors`` of a registry's JSON error body; [] when there is none to read."""
    try:
        errors = resp.json().get("errors") or []
    except (ValueError, AttributeError, requests.RequestException):  # also a broken body
        return []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _error_summary(resp: requests.Response) -> str:
    """``CODE: message`` from a registry's JSON error body, else the HTTP status."""
    errors = _errors(resp)
    if not errors:
        return f"HTTP {resp.status_code} {resp.reason}"
    first = errors[0]
    return f"{first.get('code', resp.status_code)}: {first.get('message', '')}".strip()


def _error_codes(resp: requests.Response) -> set[str]:
    return {str(e.get("code")) for e in _errors(resp)}


def _is_loopback(host: str) -> bool:
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    hostname = hostname.strip("[]")
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


class RegistryClient:
    """Authenticated requests to one registry (``base`` = ``https://host:port``)."""

    def __init__(self, host: str, base: str, *, insecure: bool = False) -> None:
        self.host, self.base, self.insecure = host, base, insecure
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"tether/{__version__}"
        # one pooled connection per stream of a parallel download (requests keeps 10)
        pooled = requests.adapters.HTTPAdapter(pool_maxsize=MAX_STREAMS)
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, pooled)
        self._credentials: Credentials | None = None
        self._looked_up = False
        self._basic = False  # the registry asked for HTTP basic auth
        self._tokens: dict[str, Token] = {}
        self._server_date: tuple[float, float] | None = None  # (server epoch, local monotonic)

    # --- credentials and tokens ------------------------------------------------------------

    @property
    def credentials(self) -> Credentials | None:
        if not self._looked_up:
            self._credentials = find_credentials(self.host)
            self._looked_up = True
        return self._credentials

    def _who(self) -> str:
        creds = self.credentials
        return f"user {creds.username!r} (from {creds.source})" if creds else "anonymous access"

    def _login_hint(self) -> str:
        return (
            f"set {USERNAME_ENV}/{PASSWORD_ENV}, or run `docker login {self.host}` "
            "(tether reads ~/.docker/config.json)"
        )

    def _auth_header(self, scope: str) -> str | None:
        creds = self.credentials
        if self._basic and creds is not None:
            return creds.basic_header()
        token = self._tokens.get(scope)
        if token is None and scope.endswith(":pull"):
            token = self._tokens.get(scope[: -len("pull")] + "pull,push")
        if token is not None and token.fresh():
            return f"Bearer {token.value}"
        return None

    def _answer(self, challenges: list[Challenge], scope: str) -> None:
        """Prepare credentials for a retry after a 401 carrying ``challenges``."""
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is not None:
            self._tokens[scope] = self._fetch_token(bearer, scope)
            return
        if any(c.scheme == "basic" for c in challenges):
            if self.credentials is None:
                raise StoreAuthError(
                    f"registry {self.host} requires a login and tether found no credentials for it",
                    self._login_hint(),
                )
            self._basic = True
            return
        raise StoreAuthError(
            f"registry {self.host} asks for an authentication scheme tether does not speak "
            f"({', '.join(c.scheme for c in challenges) or 'none given'})",
            "use a registry with basic or bearer-token authentication",
        )

    def _fetch_token(self, challenge: Challenge, scope: str) -> Token:
        realm = challenge.params.get("realm", "")
        parsed = urlparse(realm)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise StoreAuthError(
                f"registry {self.host} sent an unusable token realm {realm!r}",
                "the registry's auth configuration is broken; tell its operator",
            )
        if parsed.scheme == "http" and not (self.insecure or _is_loopback(parsed.netloc)):
            raise StoreAuthError(
                f"registry {self.host} wants credentials sent to plain-HTTP realm {realm}",
                "refused: credentials would travel in clear text; use an https realm",
            )
        creds = self.credentials
        auth = (creds.username, creds.password) if creds else None
        try:
            resp = self.session.get(
                realm,
                params=token_request_params(challenge, [scope]),
                auth=auth,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            )
        except requests.RequestException as exc:
            raise StoreUnavailableError(
                f"cannot reach the token service {realm} of registry {self.host} "
                f"({network_reason(exc)})"
            ) from exc
        if resp.status_code in (401, 403):
            raise StoreAuthError(
                f"registry {self.host} refused credentials for {self._who()} "
                f"(token service {parsed.netloc}, scope {scope})",
                self._login_hint(),
            )
        if resp.status_code != 200:
            raise StoreUnavailableError(
                f"token service {realm} of registry {self.host} answered {_error_summary(resp)}"
            )
        try:
            return parse_token_response(resp.json())
        except ValueError as exc:
            raise StoreUnavailableError(
                f"token service {realm} of registry {self.host} sent a bad answer: {exc}"
            ) from exc

    # --- requests ----------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return urljoin(self.base + "/", path.lstrip("/")) if "://" not in path else path

    def server_time(self) -> float:
        """Now by the registry's clock (Date of the last answer + time since), else ours."""
        if self._server_date is None:
            return time.time()
        epoch, at = self._server_date
        return epoch + (time.monotonic() - at)

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        data: Any = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send with the credentials the registry asks for (one retry after a 401)."""
        url = self.url(path)
        resp: requests.Response | None = None
        for attempt in (0, 1):
            sent = dict(headers or {})
            auth = self._auth_header(scope)
            if auth:
                sent["Authorization"] = auth
            if attempt and isinstance(data, UploadBody):
                data.rewind()
            resp = self._send(method, url, sent, params, data, stream)
            if resp.status_code != 401 or attempt:
                break
            challenges = parse_www_authenticate(resp.headers.get("WWW-Authenticate", ""))
            resp.close()
            if self._basic and any(c.scheme == "basic" for c in challenges):
                break  # basic credentials were sent and refused
            self._answer(challenges, scope)
        assert resp is not None
        if resp.status_code == 401:
            resp.close()
            if self.credentials is None:
                raise StoreAuthError(
                    f"registry {self.host} requires a login for {scope}", self._login_hint()
                )
            raise StoreAuthError(
                f"registry {self.host} refused credentials for {self._who()}",
                self._login_hint(),
            )
        if resp.status_code == 403:
            resp.close()
            raise StoreAuthError(
                f"registry {self.host} denied {scope} to {self._who()}",
                "ask the registry's owner for access, or log in as a user who has it",
            )
        return resp

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        params: dict[str, Any] | None,
        data: Any,
        stream: bool,
    ) -> requests.Response:
        try:
            resp = self.session.request(
                method,
                url,
                headers=headers,
                params=params,
                data=data,
                stream=stream,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            )
        except requests.exceptions.SSLError as exc:
            raise StoreUnavailableError(
                f"TLS handshake with registry {self.host} failed ({network_reason(exc)})",
                "for a private CA set REQUESTS_CA_BUNDLE=/path/to/ca.pem; for a plain-HTTP "
                f"registry add ?insecure=1 to the URL or set {INSECURE_ENV}={self.host}",
            ) from exc
        except requests.RequestException as exc:
            raise StoreUnavailableError(
                f"cannot reach registry {self.base} ({network_reason(exc)})",
                "check that the registry runs and the store URL's host and port",
            ) from exc
        date = resp.headers.get("Date")
        if date:
            with contextlib.suppress(TypeError, ValueError):
                self._server_date = (parsedate_to_datetime(date).timestamp(), time.monotonic())
        return resp

    def fail(self, resp: requests.Response, what: str) -> StoreUnavailableError:
        """The error for an unexpected answer (the caller raises it)."""
        summary = _error_summary(resp)
        resp.close()
        return StoreUnavailableError(f"registry {self.host}: {what} failed: {summary}")


# --- the store -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class _Release:
    digest: str
    size: int
    layers: dict[str, _Layer]


def _pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def _push(repo: str) -> str:
    return f"repository:{repo}:pull,push"


def _delete(repo: str) -> str:
    return f"repository:{repo}:delete"


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": "sha256:" + sha256_bytes(data), "size": len(data)}


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class OciStore:
    """A store on an OCI registry (see the module docstring for the layout)."""

    parallel = True  # blobs serve concurrent Range reads (tether.spine.transfer)

    def __init__(self, url: str, client: RegistryClient, prefix: str) -> None:
        self.url = url
        self.client = client
        self.prefix = prefix
        self._releases: dict[tuple[str, str], _Release] = {}
        self._blobs: set[tuple[str, str]] = set()  # (repo, digest) known to be there

    def __repr__(self) -> str:
        return f"OciStore({self.url!r})"

    # --- names ----------------------------------------------------------------------------

    def _repo(self, name: str) -> str:
        check_name(name)
        if not _REPO_COMPONENT.match(name):
            raise InvalidNameError(
                f"{name!r} cannot be an OCI repository name",
                "OCI names are lowercase letters and digits separated by '.', '_' or '-'",
            )
        return f"{self.prefix}/{name}" if self.prefix else name

    def _where(self, name: str, version: str) -> str:
        return f"{name} {release_tag(version)}"

    # --- listing ------------------------------------------------------------------------

    def _paged(self, path: str, scope: str, field: str, what: str) -> list[str] | None:
        """Every entry of a paginated list (tags or catalog); None when the repo is unknown."""
        found: list[str] = []
        next_path: str | None = path
        params: dict[str, Any] | None = {"n": 1000}
        while next_path:
            resp = self.client.request("GET", next_path, scope=scope, params=params)
            if resp.status_code == 404:
                resp.close()
                return None
            if resp.status_code != 200:
                raise self.client.fail(resp, what)
            try:
                found += [str(item) for item in (resp.json().get(field) or [])]
            except (ValueError, AttributeError) as exc:
                raise StoreUnavailableError(
                    f"registry {self.client.host}: {what} sent a malformed answer"
                ) from exc
            link = resp.links.get("next", {}).get("url")
            next_path, params = (link, None) if link else (None, None)
        return found

    def _tags(self, repo: str) -> list[str]:
        return (
            self._paged(f"/v2/{repo}/tags/list", _pull(repo), "tags", f"listing tags of {repo}")
            or []
        )

    def names(self) -> list[str]:
        repos = self._paged(
            "/v2/_catalog", "registry:catalog:*", "repositories", "listing repositories"
        )
        if repos is None:
            raise StoreUnavailableError(
                f"registry {self.client.host} does not list its repositories",
                "name the model with --name (or 'name' in tether.toml)",
            )
        base = f"{self.prefix}/" if self.prefix else ""
        names = []
        for repo in repos:
            name = repo[len(base) :] if repo.startswith(base) else None
            if name and "/" not in name and _REPO_COMPONENT.match(name) and self.versions(name):
                names.append(name)
        return sorted(names)

    def versions(self, name: str) -> list[str]:
        found = []
        for tag in self._tags(self._repo(name)):
            if tag.startswith(RELEASE_TAG_PREFIX) and SEP not in tag:
                try:
                    found.append(str(parse_release_tag(tag)))
                except ValueError:
                    continue  # someone else's tag
        return found

    # --- manifests ------------------------------------------------------------------------

    def _head(self, repo: str, ref: str, scope: str) -> tuple[str, int] | None:
        """(digest, size) of the manifest at ``ref``, or None when there is none."""
        resp = self.client.request(
            "HEAD", f"/v2/{repo}/manifests/{ref}", scope=scope, headers={"Accept": ACCEPT}
        )
        resp.close()
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self.client.fail(resp, f"looking up {repo}:{ref}")
        digest = resp.headers.get("Docker-Content-Digest")
        size = resp.headers.get("Content-Length")
        if digest and size:
            return digest, int(size)
        got = self._get_manifest(repo, ref, scope)  # registries may omit the headers on HEAD
        return (got[1], len(got[0])) if got else None

    def _get_manifest(self, repo: str, ref: str, scope: str) -> tuple[bytes, str] | None:
        """(raw manifest, its digest) at ``ref``, or None; a digest ref is verified."""
        resp = self.client.request(
            "GET", f"/v2/{repo}/manifests/{ref}", scope=scope, headers={"Accept": ACCEPT}
        )
        if resp.status_code == 404:
            resp.close()
            return None
        if resp.status_code != 200:
            raise self.client.fail(resp, f"reading manifest {repo}:{ref}")
        raw = resp.content
        digest = "sha256:" + sha256_bytes(raw)
        if ref.startswith("sha256:") and ref != digest:
            raise IntegrityError(f"manifest {repo}@{ref} arrived as {digest}")
        return raw, digest

    def _put_manifest(self, repo: str, ref: str, raw: bytes) -> str:
        resp = self.client.request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            scope=_push(repo),
            headers={"Content-Type": OCI_MANIFEST},
            data=raw,
        )
        if resp.status_code not in (200, 201):
            raise self.client.fail(resp, f"pushing manifest {repo}:{ref}")
        resp.close()
        return "sha256:" + sha256_bytes(raw)

    def _release(self, name: str, version: str) -> _Release:
        """The release's layers by file path (cached: releases never change)."""
        repo, tag = self._repo(name), release_tag(version)
        cached = self._releases.get((repo, tag))
        if cached is not None:
            return cached
        got = self._get_manifest(repo, tag, _pull(repo))
        if got is None:
            raise ReleaseNotFoundError(f"{self.url} has no release {name} {tag}")
        raw, digest = got
        where = f"{name} {tag} in {self.url}"
        try:
            doc = json.loads(raw)
            layers = {}
            for layer in doc["layers"]:
                path = (layer.get("annotations") or {}).get(FILEPATH) or (
                    layer.get("annotations") or {}
                ).get(TITLE)
                if not path:
                    continue  # not a file of ours
                path = check_relative_path(str(path), where=where)
                if path in layers:  # a dict would keep one silently: which, the server decides
                    raise ManifestError(
                        f"the OCI manifest of {where} has two layers for {shorten(path)}",
                        "the release was tampered with or badly pushed; do not use it",
                    )
                layers[path] = _Layer(str(layer["digest"]), int(layer["size"]), layer["mediaType"])
        except (ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, ManifestError):
                raise
            raise ManifestError(f"the OCI manifest of {where} is malformed: {exc}") from exc
        check_release_paths(layers, where=where)  # tests/spine/test_crafted_releases.py
        release = _Release(digest, len(raw), layers)
        self._releases[(repo, tag)] = release
        return release

    def files(self, name: str, version: str) -> dict[str, int]:
        return {path: layer.size for path, layer in self._release(name, version).layers.items()}

    # --- blobs ----------------------------------------------------------------------------

    def open_file(
        self, name: str, version: str, path: str, start: int = 0, end: int | None = None
    ) -> BinaryIO:
        release = self._release(name, version)
        layer = release.layers.get(path)
        where = f"{path} of {self._where(name, version)}"
        if layer is None:
            raise ReleaseNotFoundError(
                f"release {self._where(name, version)} in {self.url} has no file {path}"
            )
        if start >= layer.size:
            return io.BytesIO()
        repo = self._repo(name)
        headers = {"Accept-Encoding": "identity"}  # the blob's own bytes, for its digest
        until = end if end is not None and end < layer.size else None
        if start or until is not None:
            headers["Range"] = f"bytes={start}-{'' if until is None else until - 1}"
        resp = self.client.request(
            "GET",
            f"/v2/{repo}/blobs/{layer.digest}",
            scope=_pull(repo),
            headers=headers,
            stream=True,
        )
        if resp.status_code == 404:
            resp.close()
            raise IntegrityError(
                f"{where}: blob {layer.digest} is missing from registry {self.client.host}",
                "the registry lost or garbage-collected it: re-publish the release",
            )
        if resp.status_code not in (200, 206):
            raise self.client.fail(resp, f"downloading {where}")
        if resp.status_code == 206 and not resp.headers.get("Content-Range", "").startswith(
            f"bytes {start}-"
        ):
            raise self.client.fail(resp, f"resuming {where} at byte {start} (wrong range)")
        # MANIFEST.txt is the root every other file is checked against (by the caller), so
        # it alone is checked here, against the digest the registry's manifest names.
        verify = layer.digest if path == MANIFEST_FILE and start == 0 and until is None else None
        ranged = resp.status_code == 206
        offset = start if ranged else 0
        # the end the response promises (a changed blob may differ from the layer's size:
        # its bytes then fail the digest check, rather than look like a dropped connection)
        length = resp.headers.get("Content-Length", "")
        end = offset + int(length) if length.isdigit() else layer.size
        body = _BlobBody(resp, where, offset, end, verify)
        if start and not ranged:  # a registry that ignored Range sent the whole blob
            try:
                body.skip(start)
            except BaseException:
                body.close()
                raise
        return cast(BinaryIO, body)

    def _blob_exists(self, repo: str, digest: str) -> bool:
        if (repo, digest) in self._blobs:
            return True
        resp = self.client.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=_push(repo))
        resp.close()
        if resp.status_code == 200:
            self._blobs.add((repo, digest))
            return True
        if resp.status_code == 404:
            return False
        raise self.client.fail(resp, f"looking up blob {digest} in {repo}")

    def _push_blob(
        self, repo: str, digest: str, size: int, source: Path | bytes, what: str
    ) -> None:
        """Upload one blob (skipped when the registry has it): POST, then one streamed PUT."""
        if self._blob_exists(repo, digest):
            return
        resp = self.client.request("POST", f"/v2/{repo}/blobs/uploads/", scope=_push(repo))
        location = resp.headers.get("Location")
        if resp.status_code != 202 or not location:
            raise self.client.fail(resp, f"starting the upload of {what}")
        resp.close()
        target = self.client.url(urljoin(self.client.base + "/", location))
        target += ("&" if "?" in target else "?") + urlencode({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if isinstance(source, bytes) or size == 0:
            data = source if isinstance(source, bytes) else b""
            resp = self.client.request("PUT", target, scope=_push(repo), headers=headers, data=data)
        else:
            with open(source, "rb") as handle:
                resp = self.client.request(
                    "PUT",
                    target,
                    scope=_push(repo),
                    headers=headers,
                    data=UploadBody(handle, size),
                )
        if resp.status_code == 400 and _error_codes(resp) & {"DIGEST_INVALID", "SIZE_INVALID"}:
            resp.close()
            raise IntegrityError(
                f"{what} does not match its MANIFEST digest {digest}: the registry computed "
                "another one",
                "the file changed after the release was sealed; publish again",
            )
        if resp.status_code != 201:
            raise self.client.fail(resp, f"uploading {what}")
        resp.close()
        self._blobs.add((repo, digest))

    def _read_blob(self, repo: str, digest: str, what: str) -> bytes:
        """A small blob in memory, verified against its digest."""
        resp = self.client.request("GET", f"/v2/{repo}/blobs/{digest}", scope=_pull(repo))
        if resp.status_code != 200:
            raise self.client.fail(resp, f"reading {what}")
        data = resp.content
        if "sha256:" + sha256_bytes(data) != digest:
            raise IntegrityError(f"{what} in {self.url} does not match its digest {digest}")
        return data

    # --- publishing -----------------------------------------------------------------------

    def publish(self, name: str, version: str, files: Mapping[str, Path]) -> None:
        repo, tag = self._repo(name), release_tag(version)
        where = f"{name} {tag}"
        manifest, manifest_raw = publish_manifest(name, version, files)
        existing = self._head(repo, tag, _push(repo))
        if existing is not None:
            raise ReleaseExistsError(f"{self.url} already has {where} ({existing[0]})")

        layers = []
        for rel in sorted(files, key=lambda r: (r == MANIFEST_FILE, r)):
            source = Path(files[rel])
            if rel == MANIFEST_FILE:
                digest, size, data = (
                    "sha256:" + sha256_bytes(manifest_raw),
                    len(manifest_raw),
                    manifest_raw,
                )
                self._push_blob(repo, digest, size, data, f"{rel} of {where}")
            else:
                digest, size = "sha256:" + manifest.files[rel], source.stat().st_size
                self._push_blob(repo, digest, size, source, f"{rel} of {where}")
            layers.append(
                {
                    "mediaType": layer_media_type(rel),
                    "digest": digest,
                    "size": size,
                    "annotations": {
                        FILEPATH: rel,
                        TITLE: rel,
                        FILE_METADATA: _file_metadata(rel, size, manifest),
                    },
                }
            )
        config = _dump(
            model_config(manifest, version, layers, _read_profile(files), _read_hf_config(files))
        )
        config_desc = _descriptor(MODEL_CONFIG, config)
        self._push_blob(repo, config_desc["digest"], len(config), config, f"config of {where}")
        annotations = {
            "org.opencontainers.image.title": name,
            "org.opencontainers.image.version": version,
            ANN_RELEASE: tag,
            ANN_MANIFEST_SHA256: sha256_bytes(manifest_raw),
        }
        created = manifest.fact("Build", "timestamp")
        if created:
            annotations["org.opencontainers.image.created"] = created
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": MODEL_ARTIFACT,
            "config": config_desc,
            "layers": layers,
            "annotations": annotations,
        }
        self._commit(name, repo, tag, _dump(doc))

    def _commit(self, name: str, repo: str, tag: str, raw: bytes) -> None:
        """Tag the release manifest, exclusively (the claim protocol of the module docstring)."""
        self._push_blob(repo, "sha256:" + sha256_bytes(EMPTY_DATA), 2, EMPTY_DATA, "empty config")
        rivals: list[str] = []
        for attempt in range(CLAIM_ATTEMPTS):
            claim_tag = f"{CLAIM_PREFIX}{tag}{SEP}{uuid.uuid4().hex[:20]}"
            claim_digest = self._put_claim(repo, tag, claim_tag)
            try:
                rivals = self._live_claims(repo, tag, claim_tag)
                if not rivals:
                    self._tag_release(name, repo, tag, raw)
                    return
            finally:
                self._drop_claim(repo, tag, claim_tag, claim_digest)
            log.info("%s %s: another publisher holds a claim (%s); retrying", name, tag, rivals)
            time.sleep(random.uniform(0.05, 0.3) * min(2**attempt, 8))
        raise StoreUnavailableError(
            f"could not publish {name} {tag} to {self.url}: other publishers kept claiming it "
            f"({', '.join(rivals)})",
            f"retry; a claim left by a crashed publisher expires after {CLAIM_STALE_SECONDS:.0f} s",
        )

    def _tag_release(self, name: str, repo: str, tag: str, raw: bytes) -> None:
        existing = self._head(repo, tag, _push(repo))
        if existing is not None:
            raise ReleaseExistsError(
                f"{self.url} already has {name} {tag} "
                f"(another publisher won the race: {existing[0]})"
            )
        ours = self._put_manifest(repo, tag, raw)
        after = self._head(repo, tag, _push(repo))
        if after is None or after[0] != ours:
            raise ReleaseExistsError(
                f"{self.url} already has {name} {tag}: lost a race to another writer, the tag "
                f"points to {after[0] if after else 'nothing'}, not to ours {ours}",
                "a tool that ignores tether's claims wrote the same tag; check which release "
                "is right and enable tag immutability on the registry (docs/stores.md)",
            )

    def _put_claim(self, repo: str, tag: str, claim_tag: str, *, done: bool = False) -> str:
        annotations = {ANN_RELEASE: tag, ANN_CLAIM_AT: f"{self.client.server_time():.3f}"}
        if done:
            annotations[ANN_CLAIM_DONE] = "true"
        empty = _descriptor(EMPTY, EMPTY_DATA)
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": CLAIM_ARTIFACT,
            "config": empty,
            "layers": [empty],
            "annotations": {**annotations, "dev.tether.claim.id": claim_tag},
        }
        return self._put_manifest(repo, claim_tag, _dump(doc))

    def _live_claims(self, repo: str, tag: str, mine: str) -> list[str]:
        """Other publishers' claims on ``tag`` that are neither done nor stale."""
        live = []
        prefix = f"{CLAIM_PREFIX}{tag}{SEP}"
        for other in self._tags(repo):
            if not other.startswith(prefix) or other == mine:
                continue
            got = self._get_manifest(repo, other, _pull(repo))
            if got is None:
                continue  # dropped meanwhile
            try:
                annotations = json.loads(got[0]).get("annotations") or {}
                at = float(annotations.get(ANN_CLAIM_AT, 0))
            except (ValueError, AttributeError, TypeError):
                continue
            if annotations.get(ANN_CLAIM_DONE):
                continue
            if self.client.server_time() - at > CLAIM_STALE_SECONDS:
                log.warning("ignoring stale claim %s:%s (a crashed publisher?)", repo, other)
                continue
            live.append(other)
        return live

    def _drop_claim(self, repo: str, tag: str, claim_tag: str, claim_digest: str) -> None:
        """Delete our claim; where deleting is not allowed, mark it done instead (best effort:
        a claim left behind only makes others wait until it is stale)."""
        try:
            try:
                resp = self.client.request(
                    "DELETE", f"/v2/{repo}/manifests/{claim_digest}", scope=_delete(repo)
                )
                resp.close()
                if resp.status_code in (200, 202, 404):
                    return
            except StoreAuthError:
                pass  # no permission to delete: mark it done instead
            self._put_claim(repo, tag, claim_tag, done=True)
        except (StoreUnavailableError, StoreAuthError) as exc:
            log.warning("could not drop claim %s:%s: %s", repo, claim_tag, exc)

    # --- records --------------------------------------------------------------------------

    def read_record(self, name: str, version: str, key: str) -> bytes | None:
        repo = self._repo(name)
        got = self._get_manifest(repo, record_tag(release_tag(version), key), _pull(repo))
        if got is None:
            return None
        try:
            layer = json.loads(got[0])["layers"][0]
            digest = str(layer["digest"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ManifestError(
                f"record {key} of {self._where(name, version)} is malformed"
            ) from exc
        return self._read_blob(repo, digest, f"record {key} of {self._where(name, version)}")

    def write_record(self, name: str, version: str, key: str, data: bytes) -> None:
        repo, tag = self._repo(name), release_tag(version)
        check_relative_path(key, where="record key")
        ref = record_tag(tag, key)
        release = self._head(repo, tag, _push(repo))
        if release is None:
            raise ReleaseNotFoundError(f"{self.url} has no release {name} {tag}")
        media_type = "application/json" if key.endswith(".json") else "application/octet-stream"
        layer = _descriptor(media_type, data)
        self._push_blob(repo, layer["digest"], len(data), data, f"record {key}")
        self._push_blob(repo, "sha256:" + sha256_bytes(EMPTY_DATA), 2, EMPTY_DATA, "empty config")
        annotations = {ANN_RELEASE: tag, ANN_RECORD_KEY: key}
        if key == STATE_RECORD:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                annotations[ANN_STATE] = str(json.loads(data)["state"])
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": RECORD_ARTIFACT,
            "config": _descriptor(EMPTY, EMPTY_DATA),
            "layers": [{**layer, "annotations": {TITLE: key}}],
            # OCI 1.1 registries list records as referrers of the release; 1.0 ones ignore it
            "subject": {"mediaType": OCI_MANIFEST, "digest": release[0], "size": release[1]},
            "annotations": annotations,
        }
        self._put_manifest(repo, ref, _dump(doc))

    def record_keys(self, name: str, version: str) -> list[str]:
        """Keys of the release's record documents (used by mirror to copy them all)."""
        tag = release_tag(version)
        keys = (record_key(tag, t) for t in self._tags(self._repo(name)))
        return sorted(k for k in keys if k is not None)


class _BlobBody(HttpBody):
    """A blob download, checked against its layer digest when read whole."""

    network_errors = (*HttpBody.network_errors, requests.RequestException)
    mismatch = ("its layer digest", "the registry's copy is corrupt or was tampered with")

    def _describe(self, exc: BaseException) -> str:
        return network_reason(exc)


def _read_profile(files: Mapping[str, Path]) -> Profile | None:
    """The release's profile, None for a generic artifact (or a profile.json gone bad)."""
    path = files.get(PROFILE_FILE)
    if path is None:
        return None
    try:
        return Profile.from_bytes(Path(path).read_bytes(), where=str(path))
    except (OSError, ManifestError):
        return None  # the config only describes the model: publishing does not hinge on it


def _read_hf_config(files: Mapping[str, Path]) -> dict[str, Any]:
    """The upstream config.json a release carries (model_type, architectures), else {}."""
    path = files.get(HF_CONFIG_FILE)
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError):
        return {}  # the config only describes the model: publishing does not hinge on it
    return data if isinstance(data, dict) else {}


def _file_metadata(rel: str, size: int, manifest: Manifest) -> str:
    """ModelPack's per-file metadata; fixed owner, mode and time so a re-publish is identical."""
    mtime = manifest.fact("Build", "timestamp") or "1970-01-01T00:00:00Z"
    metadata = {
        "name": rel,
        "mode": 0o644,
        "uid": 0,
        "gid": 0,
        "size": size,
        "mtime": mtime,
        "typeflag": ord("0"),  # a regular file, as in tar
    }
    return json.dumps(metadata, separators=(",", ":"), sort_keys=True)


# ModelPack's precision vocabulary (config-schema.json) for tether's variant names.
_PRECISION = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8"}
_HUB_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def model_config(
    manifest: Manifest,
    version: str,
    layers: list[dict[str, Any]],
    profile: Profile | None,
    hf_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ModelPack config: what MANIFEST.txt, profile.json and config.json say of the model.

    Only facts the release states are written; the shape is ModelPack's config schema
    (tests/stores/test_oci.py::test_release_is_a_modelpack_artifact).
    """
    hf_config = hf_config or {}
    descriptor: dict[str, Any] = {"name": manifest.name, "version": version}
    for key, section, fact in (
        ("revision", "Source", "revision"),
        ("createdAt", "Build", "timestamp"),
    ):
        value = manifest.fact(section, fact)
        if value:
            descriptor[key] = value
    source = manifest.fact("Source", "model")
    if source.startswith(("https://", "http://")):
        descriptor["sourceURL"] = source
    elif _HUB_REPO.fullmatch(source):
        descriptor["sourceURL"] = f"https://huggingface.co/{source}"
    if isinstance(hf_config.get("model_type"), str):
        descriptor["family"] = hf_config["model_type"]  # e.g. "bert": a family, not a repo
    config: dict[str, Any] = {}
    architectures = hf_config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        config["architecture"] = architectures[0]
    formats = sorted(
        {fmt for rel in manifest.files for ext, fmt in _FORMATS.items() if rel.endswith(ext)}
    )
    if formats:
        config["format"] = "+".join(formats)
    if profile is not None:
        variants = profile.variants
        # fp32 is the reference weights; int8 (if any) is a quantized variant beside it
        reference = "fp32" if "fp32" in variants else sorted(variants)[0]
        if reference in _PRECISION:
            config["precision"] = _PRECISION[reference]
        quantized = sorted(
            (name, spec.quantization)
            for name, spec in variants.items()
            if spec.quantization is not None
        )
        if quantized:
            variant, details = quantized[0]
            text = ", ".join(f"{k}={v}" for k, v in sorted(details.items()))
            config["quantization"] = f"{variant}: {text}"
        config["capabilities"] = {"inputTypes": ["text"], "outputTypes": ["embedding"]}
        descriptor["title"] = profile.profile_id
    quantization = manifest.fact("Build", "quantization")
    if quantization and "quantization" not in config:
        config["quantization"] = quantization
    return {
        "descriptor": descriptor,
        "config": config,
        "modelfs": {"type": "layers", "diffIds": [layer["digest"] for layer in layers]},
    }


# --- opening ---------------------------------------------------------------------------------


def _insecure_by_env(host: str) -> bool:
    value = os.environ.get(INSECURE_ENV, "").strip()
    if value in ("1", "true", "*"):
        return True
    return host in {item.strip() for item in value.split(",") if item.strip()}


def open_oci_store(url: str) -> OciStore:
    """An OciStore for ``oci://host[:port]/prefix[?insecure=1]``."""
    parsed = urlparse(url)
    if parsed.scheme != "oci" or not parsed.hostname:
        raise StoreURLError(f"not an OCI store URL: {url!r}", "use oci://host[:port]/repository")
    if parsed.username or parsed.password:
        raise StoreURLError(
            f"the store URL {parsed.scheme}://...@{parsed.hostname} carries credentials, which "
            "would be written to .prepared.json and logs",
            f"drop them from the URL; set {USERNAME_ENV}/{PASSWORD_ENV} or run docker login",
        )
    host = parsed.netloc.lower()
    prefix = parsed.path.strip("/")
    for part in prefix.split("/") if prefix else []:
        if not _REPO_COMPONENT.match(part):
            raise StoreURLError(
                f"{prefix!r} in {url!r} is not a valid OCI repository path",
                "use lowercase letters and digits separated by '.', '_', '-' and '/'",
            )
    query = parse_qs(parsed.query)
    unknown = set(query) - {"insecure"}
    if unknown:
        raise StoreURLError(
            f"unknown option {sorted(unknown)[0]!r} in {url!r}", "only ?insecure=1 is known"
        )
    insecure = query.get("insecure", ["0"])[-1].lower() in ("1", "true", "yes")
    insecure = insecure or _insecure_by_env(host)
    api_host = "registry-1.docker.io" if parsed.hostname in DOCKER_HUB_HOSTS else host
    # plain HTTP only on this machine or when asked for: elsewhere credentials and bytes
    # would cross the network unprotected
    scheme = "http" if insecure or _is_loopback(host) else "https"
    client = RegistryClient(host, f"{scheme}://{api_host}", insecure=insecure)
    return OciStore(url, client, prefix)
