"""The OCI store beyond the shared contract: artifact shape, claims, auth, resume, errors.

All against the real Distribution registries started in conftest.py.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from modelpack_client import ModelPackClient
from modelpack_client.schema import CONFIG_SCHEMA

from tests.factories import write_random
from tests.servers import CuttingProxy, Server, TokenService, free_port, registry_blob_path
from tests.store_harness import REGISTRY_PASSWORD, REGISTRY_USER, StoreHarness, docker_config
from tether.cli import main
from tether.errors import (
    IntegrityError,
    ReleaseExistsError,
    StoreAuthError,
    StoreUnavailableError,
    StoreURLError,
)
from tether.spine import (
    FetchResult,
    fetch_release,
    promote,
    publish_release,
    read_manifest,
    withdraw,
)
from tether.stores import open_store
from tether.stores.base import read_bytes
from tether.stores.oci import (
    CLAIM_PREFIX,
    DOC,
    MODEL_ARTIFACT,
    MODEL_CONFIG,
    WEIGHT,
    WEIGHT_CONFIG,
    OciStore,
    open_oci_store,
    record_key,
    record_tag,
)
from tether.stores.oci_auth import find_credentials, parse_www_authenticate

pytestmark = pytest.mark.usefixtures("no_ambient_credentials")


def _get(server: Server, path: str) -> requests.Response:
    accept = "application/vnd.oci.image.manifest.v1+json"
    return requests.get(f"http://{server.url}{path}", headers={"Accept": accept}, timeout=10)


def _model_folder(folder: Path) -> Path:
    """A small embedding-model-like release: ONNX files, tokenizer, profile, model card."""
    write_random(folder / "onnx/model.onnx", 200_000, seed=4)
    write_random(folder / "onnx/model_quantized.onnx", 60_000, seed=5)
    (folder / "tokenizer.json").write_text('{"version": "1.0"}')
    (folder / "README.md").write_text("# a model card\n")
    profile = {
        "profile_id": "demo-profile-v1",
        "dim": 384,
        "pooling": "mean",
        "max_length": 256,
        "variants": {
            "fp32": {"file": "onnx/model.onnx"},
            "int8": {
                "file": "onnx/model_quantized.onnx",
                "quantization": {"method": "dynamic", "weights": "QInt8", "per_channel": True},
            },
        },
    }
    (folder / "profile.json").write_text(json.dumps(profile))
    (folder / "config.json").write_text(
        json.dumps({"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 384})
    )
    return folder


# --- artifact shape ---------------------------------------------------------------------------


def test_release_is_a_modelpack_artifact(
    harness_oci: StoreHarness, registry_server: Server, tmp_path: Path
) -> None:
    store = harness_oci.store
    assert isinstance(store, OciStore)
    publish_release(store, _model_folder(tmp_path / "m"), name="demo", version="1.2.0")
    repo = f"{store.prefix}/demo"
    raw = _get(registry_server, f"/v2/{repo}/manifests/model-v1.2.0")
    manifest = raw.json()
    assert manifest["artifactType"] == MODEL_ARTIFACT
    kinds = {
        layer["annotations"]["org.cncf.model.filepath"]: layer["mediaType"]
        for layer in manifest["layers"]
    }
    assert kinds == {
        "onnx/model.onnx": WEIGHT,
        "onnx/model_quantized.onnx": WEIGHT,
        "tokenizer.json": WEIGHT_CONFIG,
        "profile.json": WEIGHT_CONFIG,
        "config.json": WEIGHT_CONFIG,
        "README.md": DOC,
        "MANIFEST.txt": DOC,
        "provenance.intoto.json": DOC,
    }
    tether_manifest, _ = read_manifest(store, "demo", "1.2.0")
    for layer in manifest["layers"]:  # layer digest == MANIFEST digest: one root of trust
        path = layer["annotations"]["org.cncf.model.filepath"]
        if path != "MANIFEST.txt":
            assert layer["digest"] == "sha256:" + tether_manifest.files[path]
    assert manifest["config"]["mediaType"] == MODEL_CONFIG
    config = _get(registry_server, f"/v2/{repo}/blobs/{manifest['config']['digest']}").json()
    assert config["descriptor"]["name"] == "demo"
    assert config["descriptor"]["version"] == "1.2.0"
    assert config["descriptor"]["revision"] == tether_manifest.fact("Source", "revision")
    assert config["config"]["format"] == "onnx"
    assert config["config"]["precision"] == "float32"  # ModelPack's vocabulary, not "fp32"
    assert "QInt8" in config["config"]["quantization"]
    assert config["config"]["architecture"] == "BertModel"
    capabilities = config["config"]["capabilities"]
    assert capabilities == {"inputTypes": ["text"], "outputTypes": ["embedding"]}
    assert config["descriptor"]["family"] == "bert"  # a model family, never a repo id
    assert config["modelfs"] == {
        "type": "layers",
        "diffIds": [layer["digest"] for layer in manifest["layers"]],
    }
    # The ModelPack config schema as a third-party ModelPack client ships and enforces it.
    errors = sorted(Draft202012Validator(CONFIG_SCHEMA).iter_errors(config), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    for layer in manifest["layers"]:
        metadata = json.loads(layer["annotations"]["org.cncf.model.file.metadata+json"])
        assert metadata["name"] == layer["annotations"]["org.cncf.model.filepath"]
        assert metadata["size"] == layer["size"] and metadata["typeflag"] == ord("0")
    assert manifest["annotations"]["org.opencontainers.image.version"] == "1.2.0"


def test_a_modelpack_client_pulls_a_release_as_published(
    harness_oci: StoreHarness, registry_server: Server, tmp_path: Path
) -> None:
    """A tool users already run (modelpack-client) accepts the artifact: it validates the
    manifest, the config against the ModelPack schema, every diffId and file metadata."""
    store = harness_oci.store
    assert isinstance(store, OciStore)
    folder = _model_folder(tmp_path / "m")
    publish_release(store, folder, name="demo", version="1.3.0")
    reference = f"{registry_server.url}/{store.prefix}/demo:model-v1.3.0"
    pulled = ModelPackClient(insecure=True).pull(reference, tmp_path / "pulled")
    assert pulled.config["descriptor"]["version"] == "1.3.0"
    got = {p.relative_to(tmp_path / "pulled").as_posix() for p in pulled.files}
    tether_manifest, _ = read_manifest(store, "demo", "1.3.0")
    assert got == {*tether_manifest.files, "MANIFEST.txt"}
    for rel in tether_manifest.files:
        data = (tmp_path / "pulled" / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == tether_manifest.files[rel]


def test_state_changes_never_touch_the_release_manifest(
    harness_oci: StoreHarness, registry_server: Server, artifact_dir: Path
) -> None:
    store = harness_oci.store
    assert isinstance(store, OciStore)
    publish_release(store, artifact_dir, name="demo", version="1.0.0")
    repo = f"{store.prefix}/demo"
    before = _get(registry_server, f"/v2/{repo}/manifests/model-v1.0.0")
    promote(store, "demo", "1.0.0")
    withdraw(store, "demo", "1.0.0", reason="recall too low")
    after = _get(registry_server, f"/v2/{repo}/manifests/model-v1.0.0")
    assert after.content == before.content
    record = _get(registry_server, f"/v2/{repo}/manifests/rec_model-v1.0.0_state.json").json()
    assert record["annotations"]["dev.tether.state"] == "withdrawn"
    assert record["subject"]["digest"] == after.headers["Docker-Content-Digest"]
    tags = _get(registry_server, f"/v2/{repo}/tags/list").json()["tags"]
    assert sorted(tags) == ["model-v1.0.0", "rec_model-v1.0.0_state.json"]  # no claims left
    assert store.versions("demo") == ["1.0.0"]


def test_record_keys_with_any_characters(harness_oci: StoreHarness, artifact_dir: Path) -> None:
    store = harness_oci.store
    assert isinstance(store, OciStore)
    publish_release(store, artifact_dir, name="demo", version="1.0.0-rc.1")
    store.write_record("demo", "1.0.0-rc.1", "signatures/model_a.sig", b"sig")
    assert store.read_record("demo", "1.0.0-rc.1", "signatures/model_a.sig") == b"sig"
    assert store.record_keys("demo", "1.0.0-rc.1") == ["signatures/model_a.sig", "state.json"]
    assert store.versions("demo") == ["1.0.0-rc.1"]  # record tags never look like releases
    tag = record_tag("model-v1.0.0", "a/b_c.json")
    assert tag == "rec_model-v1.0.0_a_2fb_5fc.json"
    assert record_key("model-v1.0.0", tag) == "a/b_c.json"


# --- tampering beyond the contract ------------------------------------------------------------


def test_tampered_manifest_blob_is_refused(
    harness_oci: StoreHarness, registry_server: Server, artifact_dir: Path
) -> None:
    """MANIFEST.txt itself is checked against the layer digest the registry's manifest names."""
    publish_release(harness_oci.store, artifact_dir, name="demo", version="1.0.0")
    raw = read_bytes(harness_oci.store, "demo", "1.0.0", "MANIFEST.txt")
    harness_oci.tamper("demo", "1.0.0", "MANIFEST.txt", raw.replace(b"demo", b"dEmo", 1))
    fresh = open_store(harness_oci.url)
    with pytest.raises(IntegrityError, match=r"MANIFEST\.txt of demo model-v1\.0\.0"):
        read_manifest(fresh, "demo", "1.0.0")


# --- immutability and claims ------------------------------------------------------------------


def test_lost_race_to_a_foreign_writer_names_both_digests(
    harness_oci: StoreHarness, artifact_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that ignores claims re-tags right after our push: the re-check catches it."""
    store = harness_oci.store
    assert isinstance(store, OciStore)
    original = store._put_manifest
    foreign: list[str] = []

    def put_then_overwritten(repo: str, ref: str, raw: bytes) -> str:
        ours = original(repo, ref, raw)
        if ref == "model-v1.0.0":
            doc = json.loads(raw)
            doc["annotations"]["by"] = "someone else"
            foreign.append(original(repo, ref, json.dumps(doc).encode()))
        return ours

    monkeypatch.setattr(store, "_put_manifest", put_then_overwritten)
    with pytest.raises(ReleaseExistsError, match="lost a race") as caught:
        store.publish("demo", "1.0.0", _sealed_files(artifact_dir, tmp=artifact_dir.parent))
    assert foreign[0] in str(caught.value)
    assert "not to ours sha256:" in str(caught.value)


def _sealed_files(folder: Path, tmp: Path) -> dict[str, Path]:
    """The files publish_release hands to Store.publish, MANIFEST.txt and provenance included
    (made by publishing to a folder store first)."""
    local = open_store(tmp / "sealed")
    publish_release(local, folder, name="demo", version="1.0.0")
    release = tmp / "sealed" / "demo" / "model-v1.0.0"
    return {rel: release / rel for rel in local.files("demo", "1.0.0")}


def test_publisher_waits_for_a_live_claim_and_ignores_stale_ones(
    harness_oci: StoreHarness, artifact_dir: Path
) -> None:
    store = harness_oci.store
    assert isinstance(store, OciStore)
    repo = f"{store.prefix}/demo"
    # a stale claim (a crashed publisher, 10 minutes ago by the registry's clock) is ignored
    store._push_blob(repo, "sha256:" + hashlib.sha256(b"{}").hexdigest(), 2, b"{}", "empty")
    store.client.request("GET", "/v2/", scope="")  # learn the registry's clock
    real_time = store.client.server_time
    store.client.server_time = lambda: real_time() - 600  # type: ignore[method-assign]
    store._put_claim(repo, "model-v1.0.0", f"{CLAIM_PREFIX}model-v1.0.0_stale")
    store.client.server_time = real_time  # type: ignore[method-assign]
    # a live claim makes the publisher back off until it is dropped
    live = f"{CLAIM_PREFIX}model-v1.0.0_live"
    live_digest = store._put_claim(repo, "model-v1.0.0", live)
    done = threading.Event()
    outcome: list[object] = []

    def publish() -> None:
        try:
            outcome.append(
                publish_release(
                    open_store(harness_oci.url), artifact_dir, name="demo", version="1.0.0"
                )
            )
        except Exception as exc:
            outcome.append(exc)
        done.set()

    thread = threading.Thread(target=publish)
    thread.start()
    assert not done.wait(1.5), "publish went ahead despite a live claim"
    store._drop_claim(repo, "model-v1.0.0", live, live_digest)
    assert done.wait(30)
    thread.join()
    assert getattr(outcome[0], "version", None) == "1.0.0", outcome
    assert store.versions("demo") == ["1.0.0"]


# --- auth -------------------------------------------------------------------------------------


def test_basic_auth_with_env_credentials(
    registry_auth_server: Server,
    artifact_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("TETHER_OCI_USERNAME", REGISTRY_USER)
    monkeypatch.setenv("TETHER_OCI_PASSWORD", REGISTRY_PASSWORD)
    url = f"oci://{registry_auth_server.url}/envauth{time.time_ns()}"
    publish_release(open_store(url), artifact_dir, name="demo", version="1.0.0")
    fetched = fetch_release(open_store(url), "demo", "1.0.0", tmp_path / "models")
    assert (fetched.folder / "model.gguf").read_bytes() == (
        artifact_dir / "model.gguf"
    ).read_bytes()


def test_basic_auth_refused_is_one_line(
    registry_auth_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"oci://{registry_auth_server.url}/refused"
    with pytest.raises(StoreAuthError, match="requires a login") as caught:
        open_store(url).versions("demo")
    assert "docker login" in caught.value.one_line()
    folder = docker_config(tmp_path / "docker", registry_auth_server.url, "alice", "wrong")
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    with pytest.raises(StoreAuthError) as caught:
        open_store(url).versions("demo")
    line = caught.value.one_line()
    assert f"registry {registry_auth_server.url} refused credentials for user 'alice'" in line
    assert "config.json" in line and "\n" not in line
    assert "wrong" not in line  # never echo the secret
    result = CliRunner().invoke(main, ["list", "--store", url, "--name", "demo"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: registry ") and "refused" in lines[0]


def test_bearer_token_flow(
    harness_oci_token: StoreHarness, token_service: TokenService, artifact_dir: Path
) -> None:
    """The GHCR / Docker Hub flow: 401 + Bearer challenge -> token from the realm -> retry."""
    seen = len(token_service.requests_seen)
    publish_release(harness_oci_token.store, artifact_dir, name="demo", version="1.0.0")
    asked = token_service.requests_seen[seen:]
    assert asked and all(user == REGISTRY_USER for user, _ in asked)
    repo = f"{harness_oci_token.store.prefix}/demo"  # type: ignore[attr-defined]
    assert any(f"repository:{repo}:pull,push" in scopes for _, scopes in asked)
    # tokens are cached per scope: a whole publish asks the realm only a few times
    assert len(asked) <= 6


def test_bearer_token_anonymous_pull_but_no_push(
    harness_oci_token: StoreHarness, artifact_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_release(harness_oci_token.store, artifact_dir, name="demo", version="1.0.0")
    monkeypatch.delenv("TETHER_OCI_USERNAME")
    monkeypatch.delenv("TETHER_OCI_PASSWORD")
    anonymous = open_store(harness_oci_token.url)
    assert anonymous.versions("demo") == ["1.0.0"]  # the token service lets anyone pull
    with pytest.raises(StoreAuthError, match="requires a login"):
        publish_release(anonymous, artifact_dir, name="demo", version="1.0.1")


def test_bearer_token_wrong_password(
    registry_token_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_OCI_USERNAME", REGISTRY_USER)
    monkeypatch.setenv("TETHER_OCI_PASSWORD", "not-it")
    with pytest.raises(StoreAuthError, match=r"refused credentials for user 'alice' .*token"):
        open_store(f"oci://{registry_token_server.url}/x").versions("demo")


def test_challenge_parsing() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/ubuntu:pull,push", Basic realm="a, b"'
    )
    bearer, basic = parse_www_authenticate(header)
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/ubuntu:pull,push",
    }
    assert (basic.scheme, basic.params) == ("basic", {"realm": "a, b"})
    assert parse_www_authenticate('Basic realm="tether-test"')[0].params["realm"] == "tether-test"


def test_docker_config_lookups(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "docker"
    folder.mkdir()
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text('#!/bin/sh\necho \'{"Username": "helper-user", "Secret": "helper-pw"}\'\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:/usr/bin:/bin")
    config = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": "aHViOmh1Yi1wdw=="},  # hub:hub-pw
            "https://reg.example.com:5000/v2/": {"username": "u", "password": "p"},
        },
        "credHelpers": {"ghcr.io": "fake"},
    }
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    hub = find_credentials("docker.io")
    assert hub is not None and (hub.username, hub.password) == ("hub", "hub-pw")
    plain = find_credentials("reg.example.com:5000")
    assert plain is not None and (plain.username, plain.password) == ("u", "p")
    helped = find_credentials("ghcr.io")
    assert helped is not None and (helped.username, helped.source) == (
        "helper-user",
        "docker-credential-fake",
    )
    assert find_credentials("other.example.com") is None
    monkeypatch.setenv("TETHER_OCI_USERNAME", "envuser")
    monkeypatch.setenv("TETHER_OCI_PASSWORD", "envpw")
    assert find_credentials("ghcr.io").username == "envuser"  # type: ignore[union-attr]


# --- transport --------------------------------------------------------------------------------


def test_plain_http_only_for_loopback_or_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert open_oci_store("oci://ghcr.io/acme/models").client.base == "https://ghcr.io"
    assert open_oci_store("oci://localhost:5000/m").client.base == "http://localhost:5000"
    assert open_oci_store("oci://127.0.0.1:5000/m").client.base == "http://127.0.0.1:5000"
    assert open_oci_store("oci://docker.io/acme").client.base == "https://registry-1.docker.io"
    lan = "oci://10.0.0.5:5000/m?insecure=1"
    assert open_oci_store(lan).client.base == "http://10.0.0.5:5000"
    monkeypatch.setenv("TETHER_OCI_INSECURE", "reg.lan:5000")
    assert open_oci_store("oci://reg.lan:5000/m").client.base == "http://reg.lan:5000"
    assert open_oci_store("oci://other.lan:5000/m").client.base == "https://other.lan:5000"
    with pytest.raises(StoreURLError, match="carries credentials"):
        open_oci_store("oci://bob:pw@ghcr.io/acme")
    with pytest.raises(StoreURLError, match="not a valid OCI repository path"):
        open_oci_store("oci://ghcr.io/Acme")


def test_missing_registry_fails_fast() -> None:
    url = f"oci://127.0.0.1:{free_port()}/models"
    started = time.monotonic()
    with pytest.raises(
        StoreUnavailableError,
        match=r"cannot reach registry http://127\.0\.0\.1:\d+ \(connection refused\)",
    ):
        open_store(url).versions("demo")
    assert time.monotonic() - started < 3
    result = CliRunner().invoke(main, ["list", "--store", url, "--name", "demo"])
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot reach registry")


def _fetch_through(
    proxy: CuttingProxy, harness: StoreHarness, server: Server, dest: Path
) -> FetchResult:
    """Fetch demo 1.0.0 from the harness's registry by way of ``proxy``, then stop it."""
    try:
        via_proxy = open_store(harness.url.replace(server.url, proxy.address))
        return fetch_release(via_proxy, "demo", "1.0.0", dest)
    finally:
        proxy.stop()


def test_dropped_download_resumes_with_range(
    harness_oci: StoreHarness, registry_server: Server, tmp_path: Path
) -> None:
    """A real connection cut half-way through a blob: fetch resumes with a Range request."""
    folder = tmp_path / "big"
    write_random(folder / "model.gguf", 12 << 20, seed=9)
    publish_release(harness_oci.store, folder, name="demo", version="1.0.0")
    proxy = CuttingProxy(registry_server.url, cut_after=5 << 20)
    result = _fetch_through(proxy, harness_oci, registry_server, tmp_path / "models")
    assert proxy.cuts == 1
    ranged = [h for h in proxy.request_heads if "\nRange: bytes=" in h or "\nrange: bytes=" in h]
    assert len(ranged) == 1 and "/blobs/sha256:" in ranged[0]
    start = int(ranged[0].lower().split("range: bytes=")[1].split("-")[0])
    assert 0 < start <= 5 << 20  # resumed where it broke, not from the start
    assert (result.folder / "model.gguf").read_bytes() == (folder / "model.gguf").read_bytes()


def test_resume_from_a_server_that_ignores_range(
    harness_oci: StoreHarness, registry_server: Server, tmp_path: Path
) -> None:
    """The whole blob comes again (200, not 206): the bytes already written are skipped."""
    folder = tmp_path / "big"
    write_random(folder / "model.gguf", 6 << 20, seed=10)
    publish_release(harness_oci.store, folder, name="demo", version="1.0.0")
    proxy = CuttingProxy(registry_server.url, cut_after=3 << 20, drop_range=True)
    result = _fetch_through(proxy, harness_oci, registry_server, tmp_path / "models")
    assert proxy.cuts == 1
    assert any("X-Dropped-Range: bytes=" in head for head in proxy.request_heads)
    assert (result.folder / "model.gguf").read_bytes() == (folder / "model.gguf").read_bytes()


def test_blob_deleted_from_registry_storage(
    harness_oci: StoreHarness, registry_server: Server, artifact_dir: Path, tmp_path: Path
) -> None:
    publish_release(harness_oci.store, artifact_dir, name="demo", version="1.0.0")
    digest = "sha256:" + hashlib.sha256((artifact_dir / "model.gguf").read_bytes()).hexdigest()
    registry_blob_path(Path(str(registry_server.extra["storage"])), digest).unlink()
    with pytest.raises((IntegrityError, StoreUnavailableError), match=r"model\.gguf"):
        fetch_release(open_store(harness_oci.url), "demo", "1.0.0", tmp_path / "models")
    assert not (tmp_path / "models" / "demo" / ".prepared.json").exists()
