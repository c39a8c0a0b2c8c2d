"""End to end on the real MiniLM release: a fetched profile folder, broken in each listed
way, makes resolution fall back to the next candidate (a PyInstaller-like sys._MEIPASS
bundle) with the reason recorded; the winner loads and embeds, and passes its probe."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tether
from tests.runtime.helpers import (
    BREAKAGES,
    PROFILE_ID,
    break_folder,
    clone_folder,
    prepare_folder,
)


@pytest.fixture
def bundle(minilm_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A frozen app's bundle holding the profile as <_MEIPASS>/embedding_models/<id>/."""
    meipass = tmp_path / "_MEI12345"
    clone_folder(minilm_folder, meipass / "embedding_models" / PROFILE_ID)
    monkeypatch.setattr(sys, "_MEIPASS", str(meipass), raising=False)
    return meipass / "embedding_models" / PROFILE_ID


@pytest.mark.parametrize("how", BREAKAGES)
def test_broken_user_folder_falls_back_to_the_bundle(
    minilm_folder: Path, bundle: Path, tmp_path: Path, how: str
) -> None:
    user = clone_folder(minilm_folder, tmp_path / "user-models" / PROFILE_ID)
    reason = break_folder(user, how, variant="int8")
    # The app states the contract its stored vectors rely on.
    expect = {"dim": 384, "max_length": 256, "pooling": "mean"}
    result = tether.resolve(PROFILE_ID, path=user.parent, variant="int8", expect=expect)
    assert (result.source, result.folder) == ("bundle:_MEIPASS", bundle)
    assert (result.trail[0].source, result.trail[0].reason) == ("path", reason)
    assert result.trail[0].folder == user


def test_folder_with_only_fp32_falls_back_to_the_bundle_for_int8(
    minilm_release: Path, bundle: Path, tmp_path: Path
) -> None:
    only_fp32 = prepare_folder(minilm_release, tmp_path / "m" / PROFILE_ID, variants=("fp32",))
    result = tether.resolve(PROFILE_ID, path=only_fp32, variant="int8")
    assert result.source == "bundle:_MEIPASS"
    assert result.trail[0].reason == "only_other_variant"
    assert tether.resolve(PROFILE_ID, path=only_fp32, variant="fp32").folder == only_fp32


def test_a_chain_of_broken_places_then_load_and_embed_from_the_bundle(
    minilm_folder: Path,
    bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    isolated_runtime: Path,
) -> None:
    explicit = break_folder(
        clone_folder(minilm_folder, tmp_path / "explicit" / PROFILE_ID), "zero_byte"
    )
    env_root = tmp_path / "env"
    clone_folder(minilm_folder, env_root / PROFILE_ID)
    env_reason = break_folder(env_root / PROFILE_ID, "missing_tokenizer")
    monkeypatch.setenv("MYAPP_MODELS", str(env_root))
    user = tmp_path / "xdg-data" / "myapp" / "models" / PROFILE_ID  # platformdirs, Linux
    user_reason = break_folder(clone_folder(minilm_folder, user), "size_differs")

    embedder = tether.load(
        PROFILE_ID,
        path=tmp_path / "explicit",
        env_var="MYAPP_MODELS",
        app_name="myapp",
        variant="int8",
        probe=True,  # the release's own probe vectors are reproduced
    )
    trail = [(e.source, e.reason) for e in embedder.resolution.trail]
    assert trail == [
        ("path", explicit),
        ("env:MYAPP_MODELS", env_reason),
        ("user-data", user_reason),
        ("bundle:_MEIPASS", "not_found"),  # <_MEIPASS>/<id>
        ("bundle:_MEIPASS", "complete"),  # <_MEIPASS>/embedding_models/<id>
        ("bundle:_MEIPASS", ""),
        ("project-data", ""),
    ]
    assert embedder.folder == bundle
    vectors = embedder.embed(["how do I reset my password", "password reset steps", "weather"])
    assert vectors.shape == (3, 384)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]  # a real model: related texts are closer


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_minilm_probe_and_reference_vectors(minilm_folder: Path, variant: str) -> None:
    embedder = tether.load(PROFILE_ID, path=minilm_folder, variant=variant, probe=True)
    assert embedder.model_id == f"{PROFILE_ID}-384d-{variant}-mlen256"
    assert embedder.self_test() > 0.9999


def test_minilm_int8_is_close_to_fp32_and_truncates_at_256(minilm_folder: Path) -> None:
    fp32 = tether.load(PROFILE_ID, path=minilm_folder, variant="fp32")
    int8 = tether.load(PROFILE_ID, path=minilm_folder, variant="int8")
    texts = ["The quick brown fox jumps over the lazy dog.", "tether pins one exact model"]
    cosine = (fp32.embed(texts) * int8.embed(texts)).sum(axis=1)
    assert cosine.min() > 0.97
    long_text = "word " * 300
    assert np.array_equal(fp32.embed_one(long_text), fp32.embed_one(long_text + "tail " * 50))
