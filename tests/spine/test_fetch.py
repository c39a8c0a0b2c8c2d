"""Publish -> pin -> fetch -> verify -> re-pin, on the real filesystem with large files."""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
from pathlib import Path

import pytest

import tether.spine.fetch
from tests.factories import MB, NAME, write_random
from tests.factories import make_large_release as make_profile_release
from tether.errors import (
    IntegrityError,
    InvalidVariantError,
    ManifestError,
    ProfileNotFoundError,
    ReleaseWithdrawnError,
)
from tether.spine.fetch import download_release, fetch_release
from tether.spine.pin import pin_release, previous_promoted, read_pin, require_pin, write_pin
from tether.spine.release import promote, publish_release, withdraw
from tether.spine.verify import audit, verify_profile
from tether.stores import open_store
from tether.stores.file import FileStore


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "store")


def test_publish_pin_fetch_verify_repin(store: FileStore, tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    dest = project / "data" / "embedding_models"
    v1 = make_profile_release(tmp_path / "build1", seed=1)
    assert publish_release(store, v1).name == NAME  # name defaults to the profile id

    pin_release(store, NAME, "v1.0.0", project)
    assert (project / ".model-version").read_text() == "1.0.0\n"
    result = fetch_release(store, NAME, require_pin(project), dest)
    folder = dest / NAME
    assert result.changed and result.folder == folder
    assert result.prepared.variants == ["fp32", "int8"]
    assert (folder / "onnx" / "model.onnx").read_bytes() == (v1 / "onnx/model.onnx").read_bytes()
    assert verify_profile(folder).release == "model-v1.0.0"
    assert audit(store, NAME, read_pin(project), folder).ok

    # a new release drops vocab.txt and changes the int8 model; fp32 and its sidecar stay
    v2 = make_profile_release(tmp_path / "build2", seed=1, vocab=False)
    write_random(v2 / "onnx" / "model_quantized.onnx", 18 * MB, seed=999)
    publish_release(store, v2, version="1.0.1")
    pin_release(store, NAME, "1.0.1", project)
    result = fetch_release(store, NAME, require_pin(project), dest)
    assert result.removed == ["vocab.txt"]
    assert "onnx/model.onnx" in result.reused and "onnx/model.onnx_data" in result.reused
    assert result.downloaded == ["onnx/model_quantized.onnx"] or set(result.downloaded) >= {
        "onnx/model_quantized.onnx"
    }
    assert not (folder / "vocab.txt").exists()
    assert verify_profile(folder).release == "model-v1.0.1"

    # a variant change removes the other variant's model and its sidecar
    result = fetch_release(store, NAME, "1.0.1", dest, variants="int8")
    assert set(result.removed) == {"onnx/model.onnx", "onnx/model.onnx_data"}
    assert json.loads((folder / ".prepared.json").read_text())["variants"] == ["int8"]
    assert verify_profile(folder).variants == ["int8"]
    with pytest.raises(InvalidVariantError):
        fetch_release(store, NAME, "1.0.1", dest, variants="fp16")


def test_noop_fetch_reads_no_file_contents(
    store: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    dest = tmp_path / "models"
    fetch_release(store, NAME, "1.0.0", dest)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a no-op fetch must not read or hash file contents")

    monkeypatch.setattr(tether.spine.fetch, "sha256_files", forbidden)
    monkeypatch.setattr(store, "open_file", forbidden)
    monkeypatch.setattr(store, "versions", forbidden)
    assert fetch_release(store, NAME, "1.0.0", dest).changed is False


def _fetch_in_child(url: str, dest: str, results: multiprocessing.Queue) -> None:
    try:
        fetch_release(open_store(url), NAME, "1.0.0", Path(dest))
        results.put("ok")
    except Exception as exc:
        results.put(f"error: {exc!r}")


def test_racing_fetchers_both_succeed(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    dest = tmp_path / "models"
    ctx = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = ctx.Queue()
    procs = [
        ctx.Process(target=_fetch_in_child, args=(store.url, str(dest), results)) for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert sorted(results.get(timeout=5) for _ in procs) == ["ok", "ok"]
    assert verify_profile(dest / NAME).release == "model-v1.0.0"
    leftovers = [p.name for p in (dest / NAME).rglob("*") if p.name.endswith(".tether-part")]
    assert leftovers == []


def test_truncated_store_file_keeps_previous_profile(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b1", seed=1))
    dest = tmp_path / "models"
    fetch_release(store, NAME, "1.0.0", dest)
    before = (dest / NAME / "onnx" / "model_quantized.onnx").read_bytes()

    publish_release(store, make_profile_release(tmp_path / "b2", seed=5))
    stored = store.root / NAME / "model-v1.0.1" / "onnx" / "model_quantized.onnx"
    with open(stored, "r+b") as handle:
        handle.truncate(5 * MB)
    with pytest.raises(IntegrityError, match=r"model_quantized\.onnx"):
        fetch_release(store, NAME, "1.0.1", dest)
    assert (dest / NAME / "onnx" / "model_quantized.onnx").read_bytes() == before
    assert verify_profile(dest / NAME).release == "model-v1.0.0"


def test_store_manifest_with_escaping_path_is_refused(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    manifest = store.root / NAME / "model-v1.0.0" / "MANIFEST.txt"
    text = manifest.read_text().replace("  vocab.txt", "  ../../escaped.txt")
    manifest.write_text(text)
    with pytest.raises(ManifestError, match=re.escape("unsafe file path '../../escaped.txt'")):
        fetch_release(store, NAME, "1.0.0", tmp_path / "models")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "models" / NAME / ".prepared.json").exists()


def test_verify_lists_each_problem(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    dest = tmp_path / "models"
    folder = fetch_release(store, NAME, "1.0.0", dest).folder
    (folder / "vocab.txt").unlink()
    (folder / "tokenizer.json").write_bytes(b"")
    data = bytearray((folder / "onnx" / "model_quantized.onnx").read_bytes())
    data[100] ^= 0xFF
    (folder / "onnx" / "model_quantized.onnx").write_bytes(bytes(data))
    (folder / "notes.txt").write_text("left by someone")
    with pytest.raises(IntegrityError) as info:
        verify_profile(folder)
    problems = info.value.problems
    assert "missing: vocab.txt" in problems
    assert "empty: tokenizer.json" in problems
    assert any(p.startswith("mismatch: onnx/model_quantized.onnx") for p in problems)
    assert "extra: notes.txt" in problems
    assert len(problems) == 4
    assert not audit(store, NAME, "1.0.0", folder).ok

    # the stat-only completeness check sees the damage, so the next fetch repairs it
    result = fetch_release(store, NAME, "1.0.0", dest)
    assert result.changed and "notes.txt" in result.removed
    assert verify_profile(folder).release == "model-v1.0.0"


def test_withdrawn_release_cannot_be_pinned_or_fetched(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    withdraw(store, NAME, "1.0.0", reason="recall dropped")
    with pytest.raises(ReleaseWithdrawnError, match="recall dropped"):
        pin_release(store, NAME, "1.0.0", tmp_path)
    with pytest.raises(ReleaseWithdrawnError):
        fetch_release(store, NAME, "1.0.0", tmp_path / "models")
    assert not (tmp_path / ".model-version").exists()


def test_pin_previous_goes_to_previous_promoted(store: FileStore, tmp_path: Path) -> None:
    source = make_profile_release(tmp_path / "b", seed=1)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        publish_release(store, source, version=version)
    promote(store, NAME, "1.0.0")
    promote(store, NAME, "1.2.0")
    write_pin(tmp_path, "1.2.0")
    assert previous_promoted(store, NAME, "1.2.0").version == "1.0.0"  # 1.1.0 never promoted


def test_download_release_is_verified_copy(store: FileStore, tmp_path: Path) -> None:
    source = make_profile_release(tmp_path / "b", seed=1)
    publish_release(store, source)
    copy = download_release(store, NAME, "1.0.0", tmp_path / "copy")
    assert (copy / "onnx" / "model.onnx").read_bytes() == (source / "onnx/model.onnx").read_bytes()
    assert (copy / "MANIFEST.txt").is_file()
    with pytest.raises(IntegrityError, match="not empty"):
        download_release(store, NAME, "1.0.0", tmp_path / "copy")


def test_verify_without_prepared_record(tmp_path: Path) -> None:
    with pytest.raises(ProfileNotFoundError):
        verify_profile(tmp_path)


def test_release_refuses_changed_build_output(store: FileStore, tmp_path: Path) -> None:
    """A folder whose draft MANIFEST (from tether build) no longer matches is not published."""
    from tether.manifest import Manifest, write_release_metadata

    source = make_profile_release(tmp_path / "b", seed=1)
    write_release_metadata(source, Manifest(NAME, None, {}, {"Source": {"model": "m"}}))
    shutil.copy(source / "vocab.txt", source / "tokenizer.json")
    with pytest.raises(IntegrityError, match="does not match its MANIFEST"):
        publish_release(store, source)
    assert store.versions(NAME) == []
