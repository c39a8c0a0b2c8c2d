"""tether mirror: folder -> OCI registry -> S3 and back, verified, idempotent, conflict-safe."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import write_random
from tests.store_harness import StoreHarness
from tether.cli import main
from tether.errors import IntegrityError
from tether.spine import (
    PROMOTED,
    WITHDRAWN,
    list_releases,
    mirror,
    promote,
    publish_release,
    withdraw,
)
from tether.stores import open_store
from tether.stores.base import Store, read_bytes

pytestmark = pytest.mark.usefixtures("s3_credentials")


def _digests(store: Store, name: str, version: str) -> dict[str, str]:
    return {
        rel: hashlib.sha256(read_bytes(store, name, version, rel)).hexdigest()
        for rel in store.files(name, version)
    }


def test_file_to_oci_to_s3_round_trip(
    harness_file: StoreHarness,
    harness_oci: StoreHarness,
    harness_s3: StoreHarness,
    artifact_dir: Path,
    tmp_path: Path,
) -> None:
    local, oci, s3 = harness_file.store, harness_oci.store, harness_s3.store
    publish_release(local, artifact_dir, name="demo", version="1.0.0")
    write_random(artifact_dir / "model.gguf", 200_000, seed=5)
    publish_release(local, artifact_dir, name="demo", version="1.1.0")
    promote(local, "demo", "1.0.0")
    withdraw(local, "demo", "1.1.0", reason="bad recall")
    local.write_record("demo", "1.0.0", "EVAL.json", b'{"recall": 0.93}')

    first = mirror(local, oci)
    assert first.copied == ["demo model-v1.0.0", "demo model-v1.1.0"]
    second = mirror(oci, s3)
    assert second.copied == first.copied
    back = open_store(tmp_path / "back")
    mirror(s3, back, names=["demo"])

    for store in (oci, s3, back):
        assert sorted(store.versions("demo")) == ["1.0.0", "1.1.0"]
        assert [(r.version, r.state) for r in list_releases(store, "demo")] == [
            ("1.0.0", PROMOTED),
            ("1.1.0", WITHDRAWN),
        ]
        for version in ("1.0.0", "1.1.0"):
            assert _digests(store, "demo", version) == _digests(local, "demo", version)
        assert store.read_record("demo", "1.0.0", "EVAL.json") == b'{"recall": 0.93}'
    assert back.record_keys("demo", "1.0.0") == ["EVAL.json", "state.json"]

    again = mirror(local, oci)  # idempotent: nothing to copy, no record differs
    assert (again.copied, again.records, again.skipped) == (
        [],
        [],
        ["demo model-v1.0.0", "demo model-v1.1.0"],
    )


def test_state_change_in_src_reaches_dest(
    harness_file: StoreHarness, harness_s3: StoreHarness, artifact_dir: Path
) -> None:
    publish_release(harness_file.store, artifact_dir, name="demo", version="1.0.0")
    mirror(harness_file.store, harness_s3.store)
    withdraw(harness_file.store, "demo", "1.0.0", reason="license problem")
    result = mirror(harness_file.store, harness_s3.store)
    assert result.skipped == ["demo model-v1.0.0"]
    assert result.records == ["demo model-v1.0.0 state.json"]
    assert list_releases(harness_s3.store, "demo")[0].state == WITHDRAWN


def test_conflict_is_reported_never_overwritten(
    harness_file: StoreHarness, harness_oci: StoreHarness, artifact_dir: Path, tmp_path: Path
) -> None:
    publish_release(harness_file.store, artifact_dir, name="demo", version="1.0.0")
    other = tmp_path / "other"
    write_random(other / "model.gguf", 1000, seed=8)
    publish_release(harness_oci.store, other, name="demo", version="1.0.0")
    before = _digests(harness_oci.store, "demo", "1.0.0")
    result = mirror(harness_file.store, harness_oci.store)
    assert result.copied == [] and len(result.conflicts) == 1
    assert "demo model-v1.0.0" in result.conflicts[0]
    assert _digests(harness_oci.store, "demo", "1.0.0") == before


def test_tampered_source_is_not_copied(
    harness_s3: StoreHarness, harness_oci: StoreHarness, artifact_dir: Path
) -> None:
    publish_release(harness_s3.store, artifact_dir, name="demo", version="1.0.0")
    harness_s3.tamper("demo", "1.0.0", "model.gguf", b"not the model")
    with pytest.raises(IntegrityError, match=r"model\.gguf"):
        mirror(harness_s3.store, harness_oci.store)
    assert harness_oci.store.versions("demo") == []


def test_cli_mirror_versions_and_conflict_exit(
    harness_file: StoreHarness,
    harness_oci: StoreHarness,
    artifact_dir: Path,
    project_dir: Path,
    tmp_path: Path,
) -> None:
    for version in ("1.0.0", "1.0.1", "1.1.0"):
        publish_release(harness_file.store, artifact_dir, name="demo", version=version)
    runner = CliRunner()
    done = runner.invoke(main, ["mirror", harness_file.url, harness_oci.url, "v1.0.1", "1.1.0"])
    assert done.exit_code == 0, done.output
    assert "copied demo model-v1.0.1" in done.output and "copied demo model-v1.1.0" in done.output
    assert sorted(harness_oci.store.versions("demo")) == ["1.0.1", "1.1.0"]
    again = runner.invoke(main, ["mirror", harness_file.url, harness_oci.url, "--name", "demo"])
    assert again.exit_code == 0, again.output
    assert "1 copied, 2 already there" in again.output

    other = tmp_path / "other"
    write_random(other / "model.gguf", 1000, seed=8)
    publish_release(harness_oci.store, other, name="demo", version="2.0.0")
    conflicting = open_store(tmp_path / "conflicting")
    publish_release(conflicting, artifact_dir, name="demo", version="2.0.0")
    failed = runner.invoke(main, ["mirror", str(tmp_path / "conflicting"), harness_oci.url])
    assert failed.exit_code == 1
    assert "error: 1 version(s) differ between SRC and DEST" in failed.output
    assert "demo model-v2.0.0: DEST's MANIFEST.txt is sha256" in failed.output
