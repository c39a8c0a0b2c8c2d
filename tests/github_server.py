"""A stateful stand-in for the GitHub REST API's releases endpoints, for the github:// store.

No GitHub-compatible server runs offline (FINDINGS.md), so this one answers the endpoints
tether and the ``gh`` CLI use, the way github.com does:

    GET    /repos/{o}/{r}/releases                     list (drafts too, newest first), paged
    POST   /repos/{o}/{r}/releases                     create; 422 when a published release
                                                       holds the tag (drafts may share one)
    GET    /repos/{o}/{r}/releases/tags/{tag}          published releases only
    GET|PATCH|DELETE /repos/{o}/{r}/releases/{id}      PATCH draft=false creates the tag;
                                                       422 when another release took it
    GET    /repos/{o}/{r}/releases/{id}/assets         list
    POST   /repos/{o}/{r}/releases/{id}/assets?name=   upload (the uploads host): 422 on a
                                                       duplicate name; digest = sha256
    GET    /repos/{o}/{r}/releases/assets/{id}         JSON, or with Accept:
                                                       application/octet-stream a 302 to storage
    DELETE /repos/{o}/{r}/releases/assets/{id}
    GET    /repos/{o}/{r}/git/ref/tags/{tag}           the tag a published release made
    GET    /repos/{o}/{r}/immutable-releases           200 when on, 404 when off
    GET    /_storage/{id}                              the bytes, with Range (like
                                                       objects.githubusercontent.com: no auth)
    POST   /graphql                                    only gh's draft lookup (never a draft)

With immutable releases on, a published release's assets can no longer be uploaded or
deleted (422), as on GitHub. Every request but storage needs ``Authorization`` with the
server's token (401 otherwise). Tests put Prism in front (``start_prism``) so each request
and response is checked against GitHub's own OpenAPI description; storage and the gh CLI's
unix socket go to the server itself, as a browser download goes to GitHub's storage host.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, unquote, urlparse

OWNER_ID = 583231
DOCS = "https://docs.github.com/rest"
PRISM_INSTALL = (
    "npm install --prefix .npm-tools @stoplight/prism-cli@5.16.0 @octokit/openapi@23.0.2"
)
#: What the store and gh call; the spec Prism validates against keeps only these paths.
SPEC_PATHS = (
    "/repos/{owner}/{repo}/releases",
    "/repos/{owner}/{repo}/releases/tags/{tag}",
    "/repos/{owner}/{repo}/releases/{release_id}",
    "/repos/{owner}/{repo}/releases/{release_id}/assets",
    "/repos/{owner}/{repo}/releases/assets/{asset_id}",
    "/repos/{owner}/{repo}/git/ref/{ref}",
    "/repos/{owner}/{repo}/immutable-releases",
)


def _now() -> str:
    return datetime.now(tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Asset:
    id: int
    release_id: int
    name: str
    path: Path
    size: int
    digest: str
    content_type: str
    created_at: str


@dataclass
class Release:
    id: int
    repo: str
    tag_name: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    target_commitish: str
    created_at: str
    published_at: str | None = None
    updated_at: str | None = None
    immutable: bool = False
    assets: list[int] = field(default_factory=list)


@dataclass
class Repo:
    immutable: bool = False
    tags: dict[str, str] = field(default_factory=dict)  # tag -> commit sha


class GitHubState:
    """Repositories, releases and assets; asset bytes live in files under ``root``."""

    def __init__(self, root: Path, token: str) -> None:
        self.root, self.token = root, token
        root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self.releases: dict[int, Release] = {}
        self.assets: dict[int, Asset] = {}
        self._ids = iter(range(1000, 10**9))
        #: A field left out of every release document (tests show Prism catches it).
        self.drop_field: str | None = None
        #: Called with (release, patch body) before a PATCH is applied (tests race with it).
        self.before_patch: Callable[[Release, dict[str, Any]], None] | None = None

    def repo(self, full: str) -> Repo:
        return self.repos.setdefault(full, Repo())

    def next_id(self) -> int:
        return next(self._ids)

    def published(self, repo: str, tag: str) -> Release | None:
        for release in self.releases.values():
            if release.repo == repo and release.tag_name == tag and not release.draft:
                return release
        return None

    def tamper(self, repo: str, tag: str, asset_name: str, data: bytes) -> None:
        """Replace an asset's bytes in storage, its recorded digest unchanged (a bad disk)."""
        release = self.published(repo, tag)
        assert release is not None, f"no release {tag} in {repo}"
        for asset_id in release.assets:
            asset = self.assets[asset_id]
            if asset.name == asset_name:
                asset.path.write_bytes(data)
                return
        raise AssertionError(f"no asset {asset_name} in {repo} {tag}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any  # _TCP or _Unix, both with .state and .public

    def log_message(self, format: str, *args: Any) -> None:
        with contextlib.suppress(OSError), open(self.server.state.root / "access.log", "a") as log:
            log.write(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")

    # --- plumbing ------------------------------------------------------------------------

    @property
    def state(self) -> GitHubState:
        return self.server.state

    def base(self) -> str:
        """Where links in answers point: the API as the client reached it."""
        return self.server.public or f"http://{self.headers.get('Host', 'localhost')}"

    def storage_base(self) -> str:
        """Where bytes go: Prism buffers bodies as text (a binary upload arrives mangled) and
        follows redirects itself, so uploads and asset downloads name the server directly,
        as on GitHub they go to other hosts (uploads.github.com, the storage host)."""
        return self.server.storage or f"http://{self.headers.get('Host', 'localhost')}"

    def _send(self, status: int, doc: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if doc is None else json.dumps(doc).encode()
        self.send_response(status)
        if doc is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        doc: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors is not None:
            doc["errors"] = errors
        self._send(status, doc)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() in ("bearer", "token") and token == self.state.token:
            return True
        self._body()
        self._error(401, "Bad credentials")
        return False

    # --- documents -----------------------------------------------------------------------

    def _user(self) -> dict[str, Any]:
        api = self.base()
        login = "tether-bot"
        return {
            "login": login,
            "id": OWNER_ID,
            "node_id": "MDQ6VXNlcjE=",
            "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
            "gravatar_id": "",
            "url": f"{api}/users/{login}",
            "html_url": f"https://github.com/{login}",
            "followers_url": f"{api}/users/{login}/followers",
            "following_url": f"{api}/users/{login}/following{{/other_user}}",
            "gists_url": f"{api}/users/{login}/gists{{/gist_id}}",
            "starred_url": f"{api}/users/{login}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/users/{login}/subscriptions",
            "organizations_url": f"{api}/users/{login}/orgs",
            "repos_url": f"{api}/users/{login}/repos",
            "events_url": f"{api}/users/{login}/events{{/privacy}}",
            "received_events_url": f"{api}/users/{login}/received_events",
            "type": "User",
            "site_admin": False,
        }

    def _asset_doc(self, asset: Asset) -> dict[str, Any]:
        release = self.state.releases[asset.release_id]
        return {
            "url": f"{self.storage_base()}/repos/{release.repo}/releases/assets/{asset.id}",
            "browser_download_url": (
                f"https://github.com/{release.repo}/releases/download/"
                f"{quote(release.tag_name)}/{quote(asset.name)}"
            ),
            "id": asset.id,
            "node_id": f"RA_{asset.id}",
            "name": asset.name,
            "label": None,
            "state": "uploaded",
            "content_type": asset.content_type,
            "size": asset.size,
            "digest": asset.digest,
            "download_count": 0,
            "created_at": asset.created_at,
            "updated_at": asset.created_at,
            "uploader": self._user(),
        }

    def _release_doc(self, release: Release) -> dict[str, Any]:
        api = self.base()
        own = f"{api}/repos/{release.repo}/releases/{release.id}"
        tag = quote(release.tag_name)
        doc = {
            "url": own,
            "html_url": f"https://github.com/{release.repo}/releases/tag/{tag}",
            "assets_url": f"{own}/assets",
            "upload_url": (
                f"{self.storage_base()}/repos/{release.repo}/releases/{release.id}"
                "/assets{?name,label}"
            ),
            "tarball_url": f"{api}/repos/{release.repo}/tarball/{tag}",
            "zipball_url": f"{api}/repos/{release.repo}/zipball/{tag}",
            "id": release.id,
            "node_id": f"RE_{release.id}",
            "tag_name": release.tag_name,
            "target_commitish": release.target_commitish,
            "name": release.name,
            "body": release.body,
            "draft": release.draft,
            "prerelease": release.prerelease,
            "immutable": release.immutable,
            "created_at": release.created_at,
            "published_at": release.published_at,
            "updated_at": release.updated_at,
            "author": self._user(),
            "assets": [self._asset_doc(self.state.assets[i]) for i in release.assets],
        }
        doc.pop(self.state.drop_field or "", None)
        return doc

    # --- routing -------------------------------------------------------------------------

    _ROUTES: ClassVar[list[tuple[str, str, str]]] = [
        ("GET", r"/repos/([^/]+/[^/]+)/releases", "list_releases"),
        ("POST", r"/repos/([^/]+/[^/]+)/releases", "create_release"),
        ("GET", r"/repos/([^/]+/[^/]+)/releases/tags/(.+)", "release_by_tag"),
        ("GET", r"/repos/([^/]+/[^/]+)/releases/assets/(\d+)", "get_asset"),
        ("DELETE", r"/repos/([^/]+/[^/]+)/releases/assets/(\d+)", "delete_asset"),
        ("GET", r"/repos/([^/]+/[^/]+)/releases/(\d+)", "get_release"),
        ("PATCH", r"/repos/([^/]+/[^/]+)/releases/(\d+)", "update_release"),
        ("DELETE", r"/repos/([^/]+/[^/]+)/releases/(\d+)", "delete_release"),
        ("GET", r"/repos/([^/]+/[^/]+)/releases/(\d+)/assets", "list_assets"),
        ("POST", r"/repos/([^/]+/[^/]+)/releases/(\d+)/assets", "upload_asset"),
        ("GET", r"/repos/([^/]+/[^/]+)/git/ref/(.+)", "get_tag_ref"),
        ("GET", r"/repos/([^/]+/[^/]+)/immutable-releases", "immutable"),
    ]

    def _route(self) -> None:
        parsed = urlparse(self.path)
        path = parsed.path.removeprefix("/api/v3").removeprefix("/api/uploads")
        self.query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        if path == "/graphql" and self.command == "POST":
            return self.graphql() if self._authorized() else None
        storage = re.fullmatch(r"/_storage/(\d+)", path)
        if storage and self.command in ("GET", "HEAD"):
            return self.storage_get(int(storage[1]))
        for method, pattern, handler in self._ROUTES:
            match = re.fullmatch(pattern, path)
            if match and method == self.command:
                if not self._authorized():
                    return None
                args = [unquote(g) for g in match.groups()]
                with self.state.lock:
                    return getattr(self, handler)(*args)
        self._body()
        return self._error(404, "Not Found")

    do_GET = do_POST = do_PATCH = do_DELETE = do_HEAD = _route

    # --- releases ------------------------------------------------------------------------

    def list_releases(self, repo: str) -> None:
        per_page = min(int(self.query.get("per_page", 30)), 100)
        page = int(self.query.get("page", 1))
        found = sorted(
            (r for r in self.state.releases.values() if r.repo == repo),
            key=lambda r: r.id,
            reverse=True,
        )
        chunk = found[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(found):
            url = f"{self.base()}/repos/{repo}/releases?per_page={per_page}&page={page + 1}"
            headers["Link"] = f'<{url}>; rel="next"'
        self._send(200, [self._release_doc(r) for r in chunk], headers)

    def create_release(self, repo: str) -> None:
        doc = json.loads(self._body() or b"{}")
        tag = str(doc.get("tag_name") or "")
        if not tag:
            return self._error(422, "Validation Failed", [_field_error("tag_name", "missing")])
        if self.state.published(repo, tag) is not None:
            return self._error(422, "Validation Failed", [_field_error("tag_name")])
        self.state.repo(repo)
        release = Release(
            id=self.state.next_id(),
            repo=repo,
            tag_name=tag,
            name=doc.get("name"),
            body=doc.get("body"),
            draft=bool(doc.get("draft", False)),
            prerelease=bool(doc.get("prerelease", False)),
            target_commitish=str(doc.get("target_commitish") or "main"),
            created_at=_now(),
        )
        self.state.releases[release.id] = release
        if not release.draft:
            self._publish(release)
        own = f"{self.base()}/repos/{repo}/releases/{release.id}"
        self._send(201, self._release_doc(release), {"Location": own})
        return None

    def _publish(self, release: Release) -> None:
        repo = self.state.repo(release.repo)
        release.draft = False
        release.published_at = release.updated_at = _now()
        release.immutable = repo.immutable
        tag = release.tag_name
        repo.tags.setdefault(tag, hashlib.sha1(tag.encode()).hexdigest())

    def _release(self, repo: str, release_id: str) -> Release | None:
        release = self.state.releases.get(int(release_id))
        if release is None or release.repo != repo:
            self._error(404, "Not Found")
            return None
        return release

    def release_by_tag(self, repo: str, tag: str) -> None:
        release = self.state.published(repo, tag)
        if release is None:
            return self._error(404, "Not Found")
        return self._send(200, self._release_doc(release))

    def get_release(self, repo: str, release_id: str) -> None:
        release = self._release(repo, release_id)
        if release is not None:
            self._send(200, self._release_doc(release))

    def update_release(self, repo: str, release_id: str) -> None:
        doc = json.loads(self._body() or b"{}")
        release = self._release(repo, release_id)
        if release is None:
            return
        if self.state.before_patch is not None:
            self.state.before_patch(release, doc)
        if release.immutable and "tag_name" in doc and doc["tag_name"] != release.tag_name:
            return self._error(422, "Validation Failed", [_field_error("tag_name", "immutable")])
        for key in ("name", "body", "prerelease", "target_commitish"):
            if key in doc:
                setattr(release, key, doc[key])
        release.updated_at = _now()
        if doc.get("draft") is False and release.draft:
            if self.state.published(repo, release.tag_name) is not None:
                return self._error(422, "Validation Failed", [_field_error("tag_name")])
            self._publish(release)
        self._send(200, self._release_doc(release))

    def delete_release(self, repo: str, release_id: str) -> None:
        release = self._release(repo, release_id)
        if release is None:
            return
        for asset_id in release.assets:
            asset = self.state.assets.pop(asset_id)
            asset.path.unlink(missing_ok=True)
        del self.state.releases[release.id]
        self._send(204)

    # --- assets --------------------------------------------------------------------------

    def list_assets(self, repo: str, release_id: str) -> None:
        release = self._release(repo, release_id)
        if release is not None:
            docs = [self._asset_doc(self.state.assets[i]) for i in release.assets]
            self._send(200, docs)

    def upload_asset(self, repo: str, release_id: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        release = self.state.releases.get(int(release_id))
        name = self.query.get("name", "")
        refused = None
        if release is None or release.repo != repo:
            refused = (404, "Not Found", None)
        elif release.immutable:
            refused = (422, "Cannot upload assets to an immutable release.", None)
        elif not name:
            refused = (422, "Validation Failed", [_field_error("name", "missing", "ReleaseAsset")])
        elif any(self.state.assets[i].name == name for i in release.assets):
            refused = (
                422,
                "Validation Failed",
                [_field_error("name", "already_exists", "ReleaseAsset")],
            )
        if refused is not None:
            self.rfile.read(length)
            return self._error(*refused)
        assert release is not None
        asset_id = self.state.next_id()
        path = self.state.root / "assets" / str(asset_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, left = hashlib.sha256(), length
        with open(path, "wb") as out:
            while left:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        asset = Asset(
            id=asset_id,
            release_id=release.id,
            name=name,
            path=path,
            size=length - left,
            digest=f"sha256:{digest.hexdigest()}",
            content_type=self.headers.get("Content-Type", "application/octet-stream"),
            created_at=_now(),
        )
        self.state.assets[asset_id] = asset
        release.assets.append(asset_id)
        return self._send(201, self._asset_doc(asset))

    def _asset(self, repo: str, asset_id: str) -> Asset | None:
        asset = self.state.assets.get(int(asset_id))
        if asset is None or self.state.releases[asset.release_id].repo != repo:
            self._error(404, "Not Found")
            return None
        return asset

    def get_asset(self, repo: str, asset_id: str) -> None:
        asset = self._asset(repo, asset_id)
        if asset is None:
            return
        if self.headers.get("Accept", "").startswith("application/octet-stream"):
            # GitHub sends the bytes from its storage host, behind a short-lived signed URL
            location = f"{self.storage_base()}/_storage/{asset.id}?X-Signature=test"
            return self._send(302, None, {"Location": location})
        return self._send(200, self._asset_doc(asset))

    def delete_asset(self, repo: str, asset_id: str) -> None:
        asset = self._asset(repo, asset_id)
        if asset is None:
            return
        release = self.state.releases[asset.release_id]
        if release.immutable:
            return self._error(422, "Cannot delete assets of an immutable release.")
        release.assets.remove(asset.id)
        del self.state.assets[asset.id]
        asset.path.unlink(missing_ok=True)
        return self._send(204)

    def storage_get(self, asset_id: int) -> None:
        with self.state.lock:
            asset = self.state.assets.get(asset_id)
        if asset is None:
            return self._error(404, "Not Found")
        size = asset.path.stat().st_size
        start, end, status = 0, size, 200
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if wanted:
            start = int(wanted[1])
            end = min(size, int(wanted[2]) + 1) if wanted[2] else size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if self.command == "HEAD":
            return None
        with open(asset.path, "rb") as handle:
            handle.seek(start)
            left = end - start
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                while left and (chunk := handle.read(min(left, 1 << 20))):
                    self.wfile.write(chunk)
                    left -= len(chunk)
        return None

    def graphql(self) -> None:
        """gh looks for a draft of the tag by GraphQL while it asks REST for the published
        release; a tether release is never a draft, so the answer is always none."""
        query = str(json.loads(self._body() or b"{}").get("query", ""))
        if "release(" not in query:
            return self._error(404, "Not Found")
        return self._send(200, {"data": {"repository": {"release": None}}})

    # --- tags and settings ---------------------------------------------------------------

    def get_tag_ref(self, repo: str, ref: str) -> None:
        tag = unquote(ref).removeprefix("tags/")  # octokit sends tags%2Fv1, others tags/v1
        sha = self.state.repo(repo).tags.get(tag) if unquote(ref).startswith("tags/") else None
        if sha is None:
            return self._error(404, "Not Found")
        ref = f"refs/tags/{tag}"
        return self._send(
            200,
            {
                "ref": ref,
                "node_id": f"REF_{sha[:8]}",
                "url": f"{self.base()}/repos/{repo}/git/{ref}",
                "object": {
                    "type": "commit",
                    "sha": sha,
                    "url": f"{self.base()}/repos/{repo}/git/commits/{sha}",
                },
            },
        )

    def immutable(self, repo: str) -> None:
        if not self.state.repo(repo).immutable:
            return self._error(404, "Not Found")
        return self._send(200, {"enabled": True, "enforced_by_owner": False})


def _field_error(
    name: str, code: str = "already_exists", resource: str = "Release"
) -> dict[str, Any]:
    return {"resource": resource, "code": code, "field": name}


class _Quiet:
    """A client that hung up mid-answer (gh cancels its GraphQL lookup once REST answered)
    is not an error of the server."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # type: ignore[misc]


class _TCP(_Quiet, ThreadingHTTPServer):
    daemon_threads = True
    state: GitHubState
    public: str | None = None
    storage: str | None = None


class _Unix(_Quiet, socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    state: GitHubState
    public: str | None = None  # links follow the Host header (gh's own host names)
    storage: str | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, _ = super().get_request()
        return sock, ("unix", 0)  # BaseHTTPRequestHandler wants a (host, port) pair


class GitHubServer:
    """The stand-in on 127.0.0.1 (and on a unix socket, for gh), in threads of this process."""

    def __init__(self, root: Path, token: str) -> None:
        self.state = GitHubState(root / "data", token)
        self.token = token
        self._tcp = _TCP(("127.0.0.1", 0), _Handler)
        self._tcp.state = self.state
        self.direct = f"http://127.0.0.1:{self._tcp.server_address[1]}"
        self._tcp.storage = self.direct
        self.socket_path = root / "gh.sock"
        self._unix = _Unix(str(self.socket_path), _Handler)
        self._unix.state = self.state
        self.api = self.direct  # Prism's URL once start_prism ran
        self._threads = [
            threading.Thread(target=s.serve_forever, daemon=True) for s in (self._tcp, self._unix)
        ]
        for thread in self._threads:
            thread.start()

    def front_with(self, api: str) -> None:
        """Links in answers point at ``api`` (Prism), so clients keep going through it."""
        self.api = api
        self._tcp.public = api

    def stop(self) -> None:
        for server in (self._tcp, self._unix):
            server.shutdown()
            server.server_close()
        with contextlib.suppress(OSError):
            self.socket_path.unlink()


# --- Prism: GitHub's OpenAPI description, validating every exchange ----------------------------


def find_prism(repo_root: Path) -> tuple[Path, Path] | None:
    """(prism binary, api.github.com.json) from npm installs in the checkout, or None."""
    for base in (repo_root / ".npm-tools", repo_root):
        prism = base / "node_modules/.bin/prism"
        spec = base / "node_modules/@octokit/openapi/generated/api.github.com.json"
        if prism.is_file() and spec.is_file():
            return prism, spec
    return None


def trimmed_spec(spec: Path, dest: Path) -> Path:
    """GitHub's description cut to SPEC_PATHS and the components they reference: Prism loads
    it in a second instead of parsing 13 MB; the schemas themselves are GitHub's, unchanged."""
    doc = json.loads(spec.read_text())
    kept = {"openapi": doc["openapi"], "info": doc["info"], "servers": doc["servers"]}
    kept["paths"] = {p: doc["paths"][p] for p in SPEC_PATHS}
    components: dict[str, dict[str, Any]] = {}
    pending = [kept["paths"]]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                _, _, kind, key = ref.split("/", 3)
                if key not in components.setdefault(kind, {}):
                    components[kind][key] = doc["components"][kind][key]
                    pending.append(components[kind][key])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    kept["components"] = components
    dest.write_text(json.dumps(kept))
    return dest


# "Update a release" lists 200 and 404 only, yet GitHub answers 422 Validation Failed when
# the tag a draft is published under was taken meanwhile, as "Create a release" documents:
# the racing publishers of tests/stores/test_contract.py meet it when both PATCH at once.
_UPDATE_REFUSED = re.compile(r"upstream call to /repos/[^/]+/[^/]+/releases/\d+ has returned 422$")


@dataclass
class Prism:
    process: subprocess.Popen
    url: str
    log_path: Path
    #: Violations a test caused on purpose (it checked them); violations() leaves them out.
    excused: set[str] = field(default_factory=set)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def violations(self) -> list[str]:
        """Lines of Prism's log that report a request or response breaking the description."""
        found, refused_updates = [], 0
        for line in self.log().splitlines():
            refused_updates += bool(_UPDATE_REFUSED.search(line))
            if not re.search(r"\b(Violation|error)\b", line, re.IGNORECASE):
                continue
            if "Request received" in line or line in self.excused:
                continue
            # Prism validates asynchronously: the violation may come a few lines later.
            if refused_updates and "returned status code" in line and line.endswith(": 200,404"):
                refused_updates -= 1
                continue
            found.append(line)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_prism(prism: Path, spec: Path, upstream: str, folder: Path) -> Prism:
    """``prism proxy --errors SPEC UPSTREAM`` on a free port; waits until it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log_path = folder / "prism.log"
    handle = open(log_path, "wb")  # noqa: SIM115 - the child writes it until stopped
    process = subprocess.Popen(
        [str(prism), "proxy", "--errors", "-h", "127.0.0.1", "-p", str(port), str(spec), upstream],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
    )
    handle.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prism exited: {log_path.read_text(errors='replace')[-2000:]}")
        if "Prism is listening" in log_path.read_text(errors="replace"):
            return Prism(process, url, log_path)
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"prism did not start in 60 s: {log_path.read_text()[-2000:]}")
