"""The store harness: every Store backend runs the same contract suite (test_contract.py).

A pytest plugin (tests/conftest.py loads it), so the session-scoped servers it starts, one
registry of each kind and one SeaweedFS, serve every test module that asks for them.

A harness gives the store, its URL (for other processes) and a way to tamper with a
release's bytes behind tether's back, which each backend does its own way.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import (
    Server,
    ServerMissingError,
    TokenService,
    registry_blob_path,
    s3_client,
    start_registry,
    start_seaweedfs,
)
from tether.stores import open_store
from tether.stores.base import Store


@dataclass
class StoreHarness:
    store: Store
    url: str
    #: tamper(name, version, path, data): replace a release file's bytes in the backend.
    tamper: Callable[[str, str, str, bytes], None]


@pytest.fixture
def harness_file(tmp_path: Path) -> StoreHarness:
    root = tmp_path / "store"

    def tamper(name: str, version: str, path: str, data: bytes) -> None:
        (root / name / f"model-v{version}" / path).write_bytes(data)

    return StoreHarness(open_store(str(root)), str(root), tamper)


# --- real servers, one of each per test session -----------------------------------------

REGISTRY_USER, REGISTRY_PASSWORD = "alice", "wonderland-s3cret"
S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET = "tether-test", "tether-test-secret", "models"


def _started(start: Callable[[], Server]) -> Server:
    try:
        return start()
    except ServerMissingError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Distribution without auth (anonymous pull and push)."""
    server = _started(lambda: start_registry(tmp_path_factory.mktemp("registry")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registry_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Distribution with htpasswd basic auth."""
    server = _started(
        lambda: start_registry(
            tmp_path_factory.mktemp("registry-auth"), htpasswd={REGISTRY_USER: REGISTRY_PASSWORD}
        )
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenService]:
    service = TokenService(tmp_path_factory.mktemp("token"), {REGISTRY_USER: REGISTRY_PASSWORD})
    yield service
    service.stop()


@pytest.fixture(scope="session")
def registry_token_server(
    tmp_path_factory: pytest.TempPathFactory, token_service: TokenService
) -> Iterator[Server]:
    """Distribution with bearer-token auth (the GHCR / Docker Hub challenge flow)."""
    server = _started(
        lambda: start_registry(tmp_path_factory.mktemp("registry-token"), token=token_service)
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _started(
        lambda: start_seaweedfs(
            tmp_path_factory.mktemp("seaweedfs"),
            access_key=S3_ACCESS_KEY,
            secret_key=S3_SECRET_KEY,
            bucket=S3_BUCKET,
        )
    )
    yield server
    server.stop()


def docker_config(folder: Path, host: str, user: str, password: str) -> Path:
    """A Docker config.json with a base64 ``auth`` entry for ``host``, as docker login writes."""
    folder.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return folder


@pytest.fixture
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets: no TETHER_OCI_*, Docker config, AWS settings of the machine."""
    for key in ("TETHER_OCI_USERNAME", "TETHER_OCI_PASSWORD", "TETHER_OCI_INSECURE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)


def _unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"  # each test gets its own repositories / keys


def _oci_tamper(server: Server, prefix: str) -> Callable[[str, str, str, bytes], None]:
    """Overwrite a layer's bytes inside the registry's storage folder (no API involved)."""
    storage = Path(str(server.extra["storage"]))

    def tamper(name: str, version: str, path: str, data: bytes) -> None:
        repo = storage / "docker/registry/v2/repositories" / prefix / name
        link = repo / "_manifests/tags" / f"model-v{version}" / "current/link"
        manifest = json.loads(registry_blob_path(storage, link.read_text()).read_bytes())
        layer = next(
            lay
            for lay in manifest["layers"]
            if lay["annotations"]["org.cncf.model.filepath"] == path
        )
        registry_blob_path(storage, layer["digest"]).write_bytes(data)

    return tamper


def _oci_harness(server: Server) -> StoreHarness:
    prefix = _unique_prefix()
    url = f"oci://{server.url}/{prefix}"
    return StoreHarness(open_store(url), url, _oci_tamper(server, prefix))


@pytest.fixture
def harness_oci(registry_server: Server, no_ambient_credentials: None) -> StoreHarness:
    return _oci_harness(registry_server)


@pytest.fixture
def harness_oci_auth(
    registry_auth_server: Server,
    no_ambient_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> StoreHarness:
    """Basic auth, credentials from a Docker config (child processes inherit DOCKER_CONFIG)."""
    folder = docker_config(
        tmp_path / "docker", registry_auth_server.url, REGISTRY_USER, REGISTRY_PASSWORD
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return _oci_harness(registry_auth_server)


@pytest.fixture
def harness_oci_token(
    registry_token_server: Server, no_ambient_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> StoreHarness:
    """Bearer-token challenge flow, credentials from TETHER_OCI_USERNAME/PASSWORD."""
    monkeypatch.setenv("TETHER_OCI_USERNAME", REGISTRY_USER)
    monkeypatch.setenv("TETHER_OCI_PASSWORD", REGISTRY_PASSWORD)
    return _oci_harness(registry_token_server)


def s3_url(server: Server, prefix: str) -> str:
    return f"s3://{server.extra['bucket']}/{prefix}?endpoint={server.url}"


@pytest.fixture
def s3_credentials(no_ambient_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)


@pytest.fixture
def harness_s3(seaweed_server: Server, s3_credentials: None) -> StoreHarness:
    """SeaweedFS; endpoint in the URL, credentials from the standard AWS variables."""
    prefix = _unique_prefix()
    url = s3_url(seaweed_server, prefix)
    client = s3_client(seaweed_server)

    def tamper(name: str, version: str, path: str, data: bytes) -> None:
        key = f"{prefix}/{name}/model-v{version}/{path}"
        client.put_object(Bucket=seaweed_server.extra["bucket"], Key=key, Body=data)

    return StoreHarness(open_store(url), url, tamper)


#: Each kind K has a fixture harness_K (it may use session-scoped servers).
STORE_KINDS = ["file", "oci", "oci_auth", "oci_token", "s3"]


@pytest.fixture(params=STORE_KINDS)
def harness(request: pytest.FixtureRequest) -> StoreHarness:
    return request.getfixturevalue(f"harness_{request.param}")
