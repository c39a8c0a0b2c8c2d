"""The Hugging Face Hub's write API on 127.0.0.1, committing into the git repos olah serves.

No server that runs here implements the Hub's write side (FINDINGS.md), so this one does,
for the endpoints ``huggingface_hub.HfApi`` 2.4.0 calls (read from its hf_api.py,
_commit_api.py and lfs.py): ``POST /api/repos/create``, ``POST /api/{type}s/{repo}/preupload/
{rev}``, the LFS batch ``POST /{repo}.git/info/lfs/objects/batch`` with a basic transfer
(``PUT`` the bytes, ``POST`` verify), the NDJSON ``POST /api/{type}s/{repo}/commit/{rev}``
(``parentCommit`` honoured: 412 when the branch moved, as the Hub does), ``POST``/``DELETE
/api/{type}s/{repo}/tag/...`` (409 on an existing tag), ``POST .../branch/{name}`` and
``POST /api/validate-yaml`` (what create_commit asks before committing a README.md: here
400 when its front matter is not a YAML mapping; the Hub also checks the metadata's schema).

Every other request (``GET``/``HEAD``: refs, trees, resolve) is passed to olah unchanged,
so what a test wrote is read back through the real olah server. Commits are made with git
plumbing (a private index per commit, ``update-ref`` with the old value: compare and swap),
LFS objects go to ``.git/lfs/objects`` where olah reads them. Xet is not offered: tests set
``HF_HUB_DISABLE_XET`` so the client takes the LFS path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import requests

from tests.hub_server import _GIT_ENV
from tests.servers import free_port

LFS_SUFFIXES = (".gguf", ".onnx", ".onnx_data", ".safetensors", ".bin")
LFS_THRESHOLD = 10 << 20  # the Hub keeps files of 10 MiB or more in LFS, whatever their name
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES)
_API = re.compile(
    r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/(preupload|commit|tag|branch)/(.+)$"
)
_BATCH = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch$")
_UPLOAD = re.compile(r"^/lfs-upload/(models|datasets|spaces)/([^/]+/[^/]+)/([0-9a-f]{64})$")
_VERIFY = re.compile(r"^/lfs-verify/([0-9a-f]{64})$")


def _git(repo: Path, *args: str, stdin: bytes | None = None, index: Path | None = None) -> str:
    env = {**os.environ, **_GIT_ENV}
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    done = subprocess.run(
        ["git", *args], cwd=repo, input=stdin, capture_output=True, env=env, check=False
    )
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode().strip()


class GitError(RuntimeError):
    pass


def lfs_object(repo: Path, oid: str) -> Path:
    return repo / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


class HfWriteServer:
    """The write API for the repos below ``mirrors`` (olah's mirrors-path), proxying reads
    to ``olah_url``. ``token``: the bearer token writes need. ``url`` is HF_ENDPOINT."""

    def __init__(self, mirrors: Path, olah_url: str, token: str) -> None:
        self.mirrors, self.olah_url, self.token = mirrors, olah_url.rstrip("/"), token
        self.lock = threading.Lock()  # one git writer at a time (update-ref still checks)
        self.uploads = mirrors.parent / "lfs-uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every write call
        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def repo_dir(self, kind: str, repo_id: str) -> Path:
        return self.mirrors / kind / repo_id

    # --- the operations ---------------------------------------------------------------------

    def create_repo(self, kind: str, repo_id: str) -> tuple[int, dict[str, Any]]:
        repo = self.repo_dir(kind, repo_id)
        prefix = "" if kind == "models" else f"{kind}/"
        url = f"{self.url}/{prefix}{repo_id}"
        with self.lock:
            if (repo / ".git").is_dir():
                return 409, {"error": "You already created this model repo", "url": url}
            repo.mkdir(parents=True)
            _git(repo, "init", "-q", "-b", "main")
            (repo / ".gitattributes").write_text(GITATTRIBUTES)
            _git(repo, "add", ".gitattributes")
            _git(repo, "commit", "-q", "-m", "initial commit")
        return 200, {"url": url, "name": repo_id}

    def preupload(self, files: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "files": [
                {
                    "path": f["path"],
                    "uploadMode": "lfs"
                    if f["path"].endswith(LFS_SUFFIXES) or int(f["size"]) >= LFS_THRESHOLD
                    else "regular",
                    "shouldIgnore": False,
                }
                for f in files
            ]
        }

    def batch(self, kind: str, repo_id: str, objects: list[dict[str, Any]]) -> dict[str, Any]:
        repo = self.repo_dir(kind, repo_id)
        answer = []
        for obj in objects:
            oid, size = str(obj["oid"]), int(obj["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not lfs_object(repo, oid).is_file():
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-upload/{kind}/{repo_id}/{oid}"},
                    "verify": {"href": f"{self.url}/lfs-verify/{oid}"},
                }
            answer.append(entry)
        return {"transfer": "basic", "objects": answer}

    def commit(
        self, repo: Path, branch: str, lines: list[dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        header = next((x["value"] for x in lines if x.get("key") == "header"), {})
        with self.lock:
            try:
                head = _git(repo, "rev-parse", "--verify", f"refs/heads/{branch}")
            except GitError:
                return 404, {"error": f"Invalid rev id: {branch}"}
            parent = header.get("parentCommit")
            if parent and parent != head:
                return 412, {"error": "A commit has happened since. Please refresh and try again."}
            with tempfile.TemporaryDirectory() as scratch:
                index = Path(scratch) / "index"
                _git(repo, "read-tree", head, index=index)
                for line in lines:
                    key, value = line.get("key"), line.get("value") or {}
                    if key == "file":
                        data = base64.b64decode(value["content"])
                        blob = _git(repo, "hash-object", "-w", "--stdin", stdin=data)
                        self._stage(repo, index, blob, value["path"])
                    elif key == "lfsFile":
                        oid = str(value["oid"])
                        stored = lfs_object(repo, oid)
                        if not stored.is_file():
                            return 400, {"error": f"LFS object {oid} was never uploaded"}
                        pointer = lfs_pointer(oid, stored.stat().st_size)
                        blob = _git(repo, "hash-object", "-w", "--stdin", stdin=pointer)
                        self._stage(repo, index, blob, value["path"])
                    elif key == "deletedFile":
                        _git(repo, "update-index", "--force-remove", value["path"], index=index)
                    elif key == "deletedFolder":
                        folder = str(value["path"]).rstrip("/")
                        _git(
                            repo,
                            "rm",
                            "-r",
                            "-q",
                            "--cached",
                            "--ignore-unmatch",
                            folder,
                            index=index,
                        )
                tree = _git(repo, "write-tree", index=index)
            message = header.get("summary", "commit")
            if header.get("description"):
                message += "\n\n" + header["description"]
            new = _git(repo, "commit-tree", tree, "-p", head, "-m", message)
            _git(repo, "update-ref", f"refs/heads/{branch}", new, head)
        rel = repo.relative_to(self.mirrors)
        return 200, {
            "success": True,
            "commitOid": new,
            "commitUrl": f"{self.url}/{rel.relative_to(rel.parts[0])}/commit/{new}",
        }

    def _stage(self, repo: Path, index: Path, blob: str, path: str) -> None:
        # a file replacing a folder (or the other way round) is refused, as git would
        _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", index=index)

    def create_tag(
        self, repo: Path, revision: str, tag: str, message: str | None
    ) -> tuple[int, Any]:
        with self.lock:
            try:
                target = _git(repo, "rev-parse", "--verify", f"{revision}^{{commit}}")
            except GitError:
                return 404, {"error": f"Invalid rev id: {revision}"}
            if _git(repo, "tag", "--list", tag):
                return 409, {"error": f"Tag {tag} already exists"}
            if message:
                obj = _git(repo, "mktag", stdin=self._tag_object(target, tag, message))
            else:
                obj = target
            _git(repo, "update-ref", f"refs/tags/{tag}", obj, "")  # "": must not exist yet
        return 200, {}

    def _tag_object(self, target: str, tag: str, message: str) -> bytes:
        who = f"{_GIT_ENV['GIT_COMMITTER_NAME']} <{_GIT_ENV['GIT_COMMITTER_EMAIL']}> 0 +0000"
        return f"object {target}\ntype commit\ntag {tag}\ntagger {who}\n\n{message}\n".encode()

    def delete_tag(self, repo: Path, tag: str) -> tuple[int, Any]:
        with self.lock:
            if not _git(repo, "tag", "--list", tag):
                return 404, {"error": f"Invalid rev id: {tag}"}
            _git(repo, "update-ref", "-d", f"refs/tags/{tag}")
        return 200, {}

    def create_branch(self, repo: Path, branch: str, start: str | None) -> tuple[int, Any]:
        with self.lock:
            if _git(repo, "branch", "--list", branch):
                return 409, {"error": f"Reference refs/heads/{branch} already exists"}
            target = _git(repo, "rev-parse", "--verify", f"{start or 'main'}^{{commit}}")
            _git(repo, "update-ref", f"refs/heads/{branch}", target, "")
        return 200, {}

    def validate_yaml(self, content: str) -> tuple[int, dict[str, Any]]:
        import yaml
        from huggingface_hub.repocard import REGEX_YAML_BLOCK

        block = REGEX_YAML_BLOCK.search(content)
        if block is None:
            return 200, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata"}]}
        try:
            meta = yaml.safe_load(block.group(2))
        except yaml.YAMLError as exc:
            return 400, {"errors": [{"message": f"Invalid YAML: {exc}".splitlines()[0]}]}
        if meta is not None and not isinstance(meta, dict):
            return 400, {"errors": [{"message": "metadata must be a YAML mapping"}]}
        return 200, {"errors": [], "warnings": []}

    def receive(self, oid: str, repo: Path, body: bytes) -> tuple[int, Any]:
        if hashlib.sha256(body).hexdigest() != oid:
            return 400, {"error": "sha256 of the uploaded bytes differs from the oid"}
        dest = lfs_object(repo, oid)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = self.uploads / f"{oid}.{threading.get_ident()}"
        part.write_bytes(body)
        os.replace(part, dest)
        return 200, {}


def _handler(server: HfWriteServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if not size:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, doc: Any) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status >= 400 and isinstance(doc, dict):
                self.send_header("X-Error-Message", str(doc.get("error", "")))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {server.token}":
                return True
            self._send(401, {"error": "Invalid credentials in Authorization header"})
            return False

        def do_GET(self) -> None:
            self._proxy("GET")

        def do_HEAD(self) -> None:
            self._proxy("HEAD")

        def _proxy(self, method: str) -> None:
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
            }
            resp = requests.request(
                method,
                server.olah_url + self.path,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=60,
            )
            try:
                self.send_response(resp.status_code)
                for key, value in resp.raw.headers.items():
                    if key.lower() in ("connection", "transfer-encoding", "server", "date"):
                        continue
                    if key.lower() == "location":  # olah's own address -> ours
                        value = value.replace(server.olah_url, server.url)
                    self.send_header(key, value)
                chunked = method == "GET" and "Content-Length" not in resp.raw.headers
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if method == "HEAD":
                    return
                for chunk in resp.raw.stream(1 << 20, decode_content=False):
                    if chunked:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    else:
                        self.wfile.write(chunk)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            finally:
                resp.close()

        def do_PUT(self) -> None:
            parsed = urlparse(self.path)
            match = _UPLOAD.match(parsed.path)
            body = self._body()
            if not match:
                return self._send(404, {"error": "not found"})
            server.requests.append(("PUT", parsed.path))
            self._send(*server.receive(match[3], server.repo_dir(match[1], match[2]), body))

        def do_DELETE(self) -> None:
            match = _API.match(urlparse(self.path).path)
            self._body()
            if not self._authorized():
                return
            if not match or match[3] != "tag":
                return self._send(404, {"error": "not found"})
            repo = server.repo_dir(match[1], match[2])
            server.requests.append(("DELETE", self.path))
            self._send(*server.delete_tag(repo, unquote(match[4])))

        def do_POST(self) -> None:
            parsed = urlparse(self.path)
            body = self._body()
            if _VERIFY.match(parsed.path):
                return self._send(200, {})
            if not self._authorized():
                return
            server.requests.append(("POST", parsed.path))
            if parsed.path == "/api/validate-yaml":
                return self._send(*server.validate_yaml(json.loads(body)["content"]))
            if parsed.path == "/api/repos/create":
                doc = json.loads(body)
                kind = f"{doc.get('type') or 'model'}s"
                repo_id = f"{doc['organization']}/{doc['name']}"
                return self._send(*server.create_repo(kind, repo_id))
            batch = _BATCH.match(parsed.path)
            if batch:
                objects = json.loads(body)["objects"]
                return self._send(200, server.batch(batch[1] or "models", batch[2], objects))
            match = _API.match(parsed.path)
            if not match:
                return self._send(404, {"error": "not found"})
            repo = server.repo_dir(match[1], match[2])
            if not (repo / ".git").is_dir():
                return self._send(404, {"error": "Repository not found"})
            op, rev = match[3], unquote(match[4])
            if op == "preupload":
                return self._send(200, server.preupload(json.loads(body)["files"]))
            if op == "commit":
                lines = [json.loads(x) for x in body.splitlines() if x.strip()]
                return self._send(*server.commit(repo, rev, lines))
            if op == "tag":
                doc = json.loads(body)
                return self._send(*server.create_tag(repo, rev, doc["tag"], doc.get("message")))
            doc = json.loads(body or b"{}")
            return self._send(*server.create_branch(repo, rev, doc.get("startingPoint")))

    return Handler


def tamper_lfs(repo: Path, revision: str, path: str, data: bytes) -> None:
    """Replace the bytes of an LFS file at ``revision`` behind the server's back (the
    pointer keeps its oid, as a corrupted object store would)."""
    pointer = _git(repo, "show", f"{revision}:{path}")
    oid = re.search(r"oid sha256:([0-9a-f]{64})", pointer)
    assert oid is not None, f"{path} is not an LFS file"
    lfs_object(repo, oid[1]).write_bytes(data)


def remove_repo(repo: Path) -> None:
    shutil.rmtree(repo, ignore_errors=True)
