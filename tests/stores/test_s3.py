"""The S3 store beyond the shared contract: layout, multipart, create-only claims, errors.

All against the real SeaweedFS server started in conftest.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import write_random
from tests.servers import CuttingProxy, Server, free_port, s3_client
from tests.store_harness import S3_BUCKET, StoreHarness, s3_url
from tether.cli import main
from tether.errors import (
    IntegrityError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StoreAuthError,
    StoreUnavailableError,
    StoreURLError,
)
from tether.spine import fetch_release, promote, publish_release
from tether.stores import open_store
from tether.stores import s3 as s3_module
from tether.stores.s3 import S3Store, open_s3_store

pytestmark = pytest.mark.usefixtures("s3_credentials")


def _keys(server: Server, prefix: str) -> dict[str, dict]:
    client = s3_client(server)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix=prefix)
    return {entry["Key"]: entry for page in pages for entry in page.get("Contents") or []}


def _prefix(harness: StoreHarness) -> str:
    store = harness.store
    assert isinstance(store, S3Store)
    return store.root


def test_layout_one_object_per_file(
    harness_s3: StoreHarness, seaweed_server: Server, artifact_dir: Path
) -> None:
    publish_release(harness_s3.store, artifact_dir, name="demo", version="1.0.0")
    promote(harness_s3.store, "demo", "1.0.0")
    root = _prefix(harness_s3)
    assert sorted(_keys(seaweed_server, root)) == [
        f"{root}demo/model-v1.0.0.record/state.json",
        f"{root}demo/model-v1.0.0/MANIFEST.txt",
        f"{root}demo/model-v1.0.0/Modelfile",
        f"{root}demo/model-v1.0.0/model.gguf",
        f"{root}demo/model-v1.0.0/provenance.intoto.json",
    ]  # the claim object is gone
    assert harness_s3.store.record_keys("demo", "1.0.0") == ["state.json"]  # type: ignore[attr-defined]


def test_multipart_upload_is_create_only(
    harness_s3: StoreHarness,
    seaweed_server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 5 << 20)
    monkeypatch.setattr(s3_module, "PART_SIZE", 5 << 20)  # S3's smallest part
    folder = tmp_path / "big"
    write_random(folder / "model.gguf", 12 << 20, seed=11)
    publish_release(harness_s3.store, folder, name="demo", version="1.0.0")
    key = f"{_prefix(harness_s3)}demo/model-v1.0.0/model.gguf"
    assert _keys(seaweed_server, key)[key]["ETag"].endswith('-3"')  # three parts
    result = fetch_release(harness_s3.store, "demo", "1.0.0", tmp_path / "models")
    assert (result.folder / "model.gguf").read_bytes() == (folder / "model.gguf").read_bytes()
    # a second multipart upload onto the same key is refused at completion
    with pytest.raises(ReleaseExistsError, match="written by another publisher"):
        harness_s3.store._upload(key, folder / "model.gguf", "demo model-v1.0.0")  # type: ignore[attr-defined]


def test_claim_of_another_publisher_refuses_at_once(
    harness_s3: StoreHarness, seaweed_server: Server, artifact_dir: Path
) -> None:
    claim = f"{_prefix(harness_s3)}demo/model-v1.0.0.claim"
    s3_client(seaweed_server).put_object(Bucket=S3_BUCKET, Key=claim, Body=b"{}")
    with pytest.raises(ReleaseExistsError, match="in progress") as caught:
        publish_release(harness_s3.store, artifact_dir, name="demo", version="1.0.0")
    assert f"s3://{S3_BUCKET}/{claim}" in caught.value.one_line()
    assert harness_s3.store.versions("demo") == []


def test_failed_publish_leaves_nothing(
    harness_s3: StoreHarness,
    seaweed_server: Server,
    artifact_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = harness_s3.store
    assert isinstance(store, S3Store)
    original = store._upload
    calls: list[str] = []

    def fail_second(key: str, path: Path, where: str) -> None:
        calls.append(key)
        if len(calls) == 2:
            raise StoreUnavailableError("connection lost (simulated)")
        original(key, path, where)

    monkeypatch.setattr(store, "_upload", fail_second)
    with pytest.raises(StoreUnavailableError, match="simulated"):
        publish_release(store, artifact_dir, name="demo", version="1.0.0")
    assert _keys(seaweed_server, _prefix(harness_s3)) == {}  # files and claim removed
    monkeypatch.undo()
    publish_release(store, artifact_dir, name="demo", version="1.0.0")  # nothing blocks it
    assert store.versions("demo") == ["1.0.0"]


def test_release_without_manifest_is_invisible(
    harness_s3: StoreHarness, seaweed_server: Server
) -> None:
    key = f"{_prefix(harness_s3)}demo/model-v2.0.0/model.gguf"
    s3_client(seaweed_server).put_object(Bucket=S3_BUCKET, Key=key, Body=b"half")
    assert harness_s3.store.versions("demo") == []
    assert harness_s3.store.names() == []
    with pytest.raises(ReleaseNotFoundError):
        harness_s3.store.files("demo", "2.0.0")
    with pytest.raises(ReleaseNotFoundError):
        harness_s3.store.open_file("demo", "2.0.0", "model.gguf")


def test_changed_source_file_is_not_published(
    harness_s3: StoreHarness, seaweed_server: Server, artifact_dir: Path, tmp_path: Path
) -> None:
    local = open_store(tmp_path / "sealed")
    publish_release(local, artifact_dir, name="demo", version="1.0.0")
    release = tmp_path / "sealed" / "demo" / "model-v1.0.0"
    files = {rel: release / rel for rel in local.files("demo", "1.0.0")}
    (release / "Modelfile").write_text("FROM ./other.gguf\n")  # changed after sealing
    with pytest.raises(IntegrityError, match="Modelfile"):
        harness_s3.store.publish("demo", "1.0.0", files)
    assert _keys(seaweed_server, _prefix(harness_s3)) == {}


def test_wrong_secret_is_one_line(seaweed_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    url = s3_url(seaweed_server, "x")
    with pytest.raises(StoreAuthError, match="refused access key teth") as caught:
        open_store(url).versions("demo")
    assert "not-the-secret" not in caught.value.one_line()
    result = CliRunner().invoke(main, ["list", "--store", url, "--name", "demo"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: S3 endpoint")


def test_no_credentials(seaweed_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreAuthError, match="no S3 credentials"):
        open_store(s3_url(seaweed_server, "x")).versions("demo")


def test_missing_bucket(seaweed_server: Server) -> None:
    url = f"s3://no-such-bucket/x?endpoint={seaweed_server.url}"
    with pytest.raises(StoreUnavailableError, match="bucket no-such-bucket does not exist"):
        open_store(url).versions("demo")


def test_missing_server_fails_fast() -> None:
    url = f"s3://models/x?endpoint=http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="cannot reach S3 endpoint"):
        open_store(url).versions("demo")
    assert time.monotonic() - started < 8


def test_url_options() -> None:
    store = open_s3_store("s3://bucket/a/b?endpoint=http://127.0.0.1:9&region=eu-west-3")
    assert (store.bucket, store.root, store.endpoint) == ("bucket", "a/b/", "http://127.0.0.1:9")
    assert store.client.meta.region_name == "eu-west-3"
    assert open_s3_store("s3://bucket").root == ""
    with pytest.raises(StoreURLError, match="unknown option"):
        open_s3_store("s3://bucket/p?secret=x")
    with pytest.raises(StoreURLError, match="carries credentials"):
        open_s3_store("s3://key:secret@bucket/p")


def test_dropped_download_resumes_with_range(
    harness_s3: StoreHarness, seaweed_server: Server, tmp_path: Path
) -> None:
    """A real connection cut half-way through an object: fetch resumes with a ranged GET."""
    folder = tmp_path / "big"
    write_random(folder / "model.gguf", 12 << 20, seed=9)
    publish_release(harness_s3.store, folder, name="demo", version="1.0.0")
    upstream = seaweed_server.url.removeprefix("http://")
    proxy = CuttingProxy(upstream, cut_after=5 << 20)
    try:
        via_proxy = open_store(harness_s3.url.replace(upstream, proxy.address))
        result = fetch_release(via_proxy, "demo", "1.0.0", tmp_path / "models")
    finally:
        proxy.stop()
    assert proxy.cuts == 1
    ranged = [h for h in proxy.request_heads if "\nrange: bytes=" in h.lower()]
    assert len(ranged) == 1 and "model.gguf" in ranged[0]
    assert (result.folder / "model.gguf").read_bytes() == (folder / "model.gguf").read_bytes()
