"""The store harness: every Store backend runs the same contract suite (test_contract.py).

A pytest plugin (tests/conftest.py loads it), so the session-scoped servers it starts, one
registry of each kind, one SeaweedFS and one GitHub stand-in behind Prism, serve every test
module that asks for them.

A harness gives the store, its URL (for other processes) and a way to tamper with a
release's bytes behind tether's back, which each backend does its own way.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.github_server import (
    PRISM_INSTALL,
    GitHubServer,
    Prism,
    find_prism,
    start_prism,
    trimmed_spec,
)
from tests.hf_write_server import HfWriteServer, tamper_lfs
from tests.hub_server import start_olah
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
from tether.stores.github import asset_name


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


# --- GitHub Releases: tests/github_server.py behind Prism (GitHub's OpenAPI description) ----

GITHUB_TOKEN = "ghp_tetherTestToken0123456789"
GITHUB_OWNER = "tether-test"


@dataclass
class GitHubStandIn:
    server: GitHubServer
    prism: Prism

    @property
    def api(self) -> str:
        return self.prism.url


@pytest.fixture(scope="session")
def github_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubStandIn]:
    found = find_prism(Path(__file__).resolve().parent.parent)
    if found is None:
        pytest.fail(f"Prism and @octokit/openapi are not installed: {PRISM_INSTALL}", pytrace=False)
    folder = tmp_path_factory.mktemp("github")
    server = GitHubServer(folder, GITHUB_TOKEN)
    prism = start_prism(
        found[0], trimmed_spec(found[1], folder / "spec.json"), server.direct, folder
    )
    server.front_with(prism.url)
    yield GitHubStandIn(server, prism)
    prism.stop()
    server.stop()


@pytest.fixture
def github_token(no_ambient_credentials: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The stand-in's token in $GITHUB_TOKEN (child processes inherit it), nothing else."""
    for key in (
        "GH_TOKEN",
        "GH_ENTERPRISE_TOKEN",
        "GITHUB_ENTERPRISE_TOKEN",
        "TETHER_GITHUB_API_URL",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    return GITHUB_TOKEN


def github_url(standin: GitHubStandIn, repo: str) -> str:
    return f"github://{GITHUB_OWNER}/{repo}?api={standin.api}"


@pytest.fixture
def harness_github(github_standin: GitHubStandIn, github_token: str) -> Iterator[StoreHarness]:
    """A fresh repository per test; every exchange tether has with the API passes Prism."""
    repo = _unique_prefix()
    url = github_url(github_standin, repo)
    state = github_standin.server.state

    def tamper(name: str, version: str, path: str, data: bytes) -> None:
        asset = asset_name(path)
        assert asset is not None
        state.tamper(f"{GITHUB_OWNER}/{repo}", f"model-v{version}", asset, data)

    seen = len(github_standin.prism.violations())
    yield StoreHarness(open_store(url), url, tamper)
    assert github_standin.prism.violations()[seen:] == []


# --- the Hugging Face Hub: olah reads, tests/hf_write_server.py writes, one git repo --------

HF_TOKEN = "hf_tetherTestToken0123456789"
HF_ORG = "tether-test"


@dataclass
class HfStandIn:
    olah: Server
    writer: HfWriteServer

    @property
    def endpoint(self) -> str:
        return self.writer.url

    def repo_dir(self, repo_id: str) -> Path:
        return self.writer.repo_dir("models", repo_id)


@pytest.fixture(scope="session")
def hf_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HfStandIn]:
    root = tmp_path_factory.mktemp("hf")
    olah = _started(lambda: start_olah(root))
    mirrors = olah.extra["mirrors"]
    assert isinstance(mirrors, Path)
    writer = HfWriteServer(mirrors, olah.url, HF_TOKEN)
    yield HfStandIn(olah, writer)
    writer.stop()
    olah.stop()


@pytest.fixture
def hf_env(
    hf_standin: HfStandIn,
    no_ambient_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> str:
    """The stand-in as HF_ENDPOINT, its token in HF_TOKEN (child processes inherit both),
    huggingface_hub's own config in tmp_path, and the LFS upload path (no Xet here)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_ENDPOINT", hf_standin.endpoint)
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    return hf_standin.endpoint


@pytest.fixture
def harness_hf(hf_standin: HfStandIn, hf_env: str) -> StoreHarness:
    """A fresh model repository per test, written through the stand-in, read through olah."""
    repo_id = f"{HF_ORG}/{_unique_prefix()}"
    url = f"hf://{repo_id}"

    def tamper(name: str, version: str, path: str, data: bytes) -> None:
        tamper_lfs(hf_standin.repo_dir(repo_id), f"model-v{version}", path, data)

    return StoreHarness(open_store(url), url, tamper)


@pytest.fixture
def harness_hf_versions(hf_standin: HfStandIn, hf_env: str) -> StoreHarness:
    """One repository per version (``{version}`` in the name), fresh per test, listed from
    its index repository; written through the stand-in, read through olah."""
    pattern = f"{HF_ORG}/{_unique_prefix()}-v{{version}}"
    url = f"hf://{pattern}"

    def tamper(name: str, version: str, path: str, data: bytes) -> None:
        repo = hf_standin.repo_dir(pattern.replace("{version}", version))
        tamper_lfs(repo, f"model-v{version}", path, data)

    return StoreHarness(open_store(url), url, tamper)


LIVE_MARKERS = {
    "live_github": "TETHER_LIVE_GITHUB_REPO",
    "live_hf": "TETHER_LIVE_HF_REPO",
}


def pytest_configure(config: pytest.Config) -> None:
    for marker, env in LIVE_MARKERS.items():
        config.addinivalue_line(
            "markers", f"{marker}: against the real service; runs only with {env} set"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) the live tests unless a maintainer asked for them."""
    for marker, env in LIVE_MARKERS.items():
        if os.environ.get(env):
            continue
        live = [item for item in items if item.get_closest_marker(marker)]
        if live:
            config.hook.pytest_deselected(items=live)
            items[:] = [item for item in items if not item.get_closest_marker(marker)]


#: Each kind K has a fixture harness_K (it may use session-scoped servers).
STORE_KINDS = ["file", "oci", "oci_auth", "oci_token", "s3", "github", "hf", "hf_versions"]


@pytest.fixture(params=STORE_KINDS)
def harness(request: pytest.FixtureRequest) -> StoreHarness:
    return request.getfixturevalue(f"harness_{request.param}")
