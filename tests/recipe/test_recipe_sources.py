"""Sources: a Hugging Face cache used offline, and local folders digested."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.real_models import seed_hf_cache
from tether.errors import IntegrityError, SourceNotFoundError
from tether.hashing import sha256_file
from tether.recipe import HfSource, build
from tether.recipe.sources import folder_digest, resolve_source

pytestmark = pytest.mark.usefixtures("clean_build_env")

REPO = "tether-tests/tiny-bert"
COMMIT = "b" * 40


@pytest.fixture
def hf_cache(tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache holding the tiny checkpoint at COMMIT, used offline."""
    cache = tmp_path / "hf-cache"
    seed_hf_cache(cache, REPO, COMMIT, tiny_checkpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_hf_source_offline_records_the_downloaded_commit(
    hf_cache: Path, tiny_checkpoint: Path
) -> None:
    resolved = resolve_source(HfSource(repo=REPO, revision=COMMIT))
    assert resolved.folder == hf_cache / "models--tether-tests--tiny-bert" / "snapshots" / COMMIT
    assert (resolved.model, resolved.revision, resolved.type) == (REPO, COMMIT, "hf")
    # the snapshot is made of links into blobs/, and its content is the checkpoint's
    assert (resolved.folder / "model.safetensors").is_symlink()
    assert folder_digest(resolved.folder) == folder_digest(tiny_checkpoint)


def test_hf_build_matches_the_path_build(
    hf_cache: Path, tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    hf = dataclasses.replace(make_recipe(tiny_checkpoint), source=HfSource(REPO, COMMIT))
    from_hf = build(hf, tmp_path / "hf")
    from_path = build(make_recipe(tiny_checkpoint), tmp_path / "path")
    assert from_hf.manifest.sections["Source"] == {"model": REPO, "revision": COMMIT}
    for rel in ("onnx/model.onnx", "onnx/model_quantized.onnx", "tokenizer.json", "profile.json"):
        assert sha256_file(from_hf.out_dir / rel) == sha256_file(from_path.out_dir / rel), rel


def test_hf_revision_the_cache_lacks(hf_cache: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError) as caught:
        resolve_source(HfSource(repo=REPO, revision="c" * 40))
    line = caught.value.one_line()
    assert "is not in the Hugging Face cache" in line and "HF_HUB_OFFLINE" in line
    assert "\n" not in line
    with pytest.raises(SourceNotFoundError):
        resolve_source(HfSource(repo="tether-tests/absent", revision=COMMIT))


def test_corrupted_cache_blob_is_detected(hf_cache: Path) -> None:
    snapshot = hf_cache / "models--tether-tests--tiny-bert" / "snapshots" / COMMIT
    blob = (snapshot / "config.json").resolve()
    os.chmod(blob, 0o644)
    blob.write_bytes(blob.read_bytes().replace(b"32", b"33", 1))
    with pytest.raises(IntegrityError, match=r"config\.json"):
        resolve_source(HfSource(repo=REPO, revision=COMMIT))


def test_folder_digest_is_sha256sum_of_the_listing(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_bytes(b"a\n")
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00\x01")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: main\n")  # tool state: not content
    listing = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {rel}\n"
        for rel, data in sorted({"a.txt": b"a\n", "sub/b.bin": b"\x00\x01"}.items())
    )
    assert folder_digest(tmp_path) == "sha256:" + hashlib.sha256(listing.encode()).hexdigest()
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00\x02")
    assert folder_digest(tmp_path) != "sha256:" + hashlib.sha256(listing.encode()).hexdigest()


def test_cached_commit_needs_no_network(hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the Hub was asked for a commit the cache holds")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(HfApi, "list_repo_tree", no_network)
    monkeypatch.setattr(HfApi, "repo_info", no_network)
    assert resolve_source(HfSource(repo=REPO, revision=COMMIT)).revision == COMMIT
