"""Prompts and Matryoshka truncation, end to end on the real MiniLM.

One build of a MiniLM checkpoint whose config_sentence_transformers.json carries prompts
(e5-style, default "query") and a recipe with ``[profile] dim = 256``: the prompts reach
profile.json from the checkpoint, the runtime applies them exactly as
sentence-transformers does, and truncation equals numpy's on the full vector.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.real_models import MINILM_REPO, PROFILE_ID, minilm_source_dir
from tests.runtime.helpers import prepare_folder
from tether.cli import main
from tether.errors import ProfileIncompleteError, RuntimeOptionError
from tether.runtime import Embedder

PROMPTS = {"query": "query: ", "document": "passage: "}
TEXTS = [
    "how do I reset my password?",
    "The password can be reset from the account settings page.",
    "Photosynthesis turns light into chemical energy.",
    "",
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def prompted_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline MiniLM checkpoint with prompts added to its sentence-transformers config."""
    folder = tmp_path_factory.mktemp("prompted") / "checkpoint"
    shutil.copytree(minilm_source_dir(), folder)
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    config.update(prompts=PROMPTS, default_prompt_name="query")
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def prompted_build(prompted_checkpoint: Path) -> Path:
    """fp32 only, dim 256 of 384: one ~20 s build for the whole module."""
    from tether.recipe import PathSource, Recipe, build

    recipe = Recipe(
        profile_id=PROFILE_ID,
        source=PathSource(path=prompted_checkpoint, model=MINILM_REPO),
        variants=("fp32",),
        dim=256,
    )
    return build(recipe, prompted_checkpoint.parent / "build").out_dir


def test_the_build_records_the_checkpoints_prompts_and_the_dim(prompted_build: Path) -> None:
    profile = json.loads((prompted_build / "profile.json").read_text())
    assert profile["prompts"] == PROMPTS and profile["default_prompt_name"] == "query"
    assert (profile["dim"], profile["native_dim"]) == (256, 384)
    probe = json.loads((prompted_build / "probe.json").read_text())
    assert probe["prompt"] == "query" and len(probe["fp32"][0]) == 256
    with Embedder.from_folder(prompted_build, "fp32") as embedder:
        assert embedder.dim == 256
        assert "-256of384d-fp32-mlen256-p" in embedder.model_id
        # probe.json holds what embed(texts) gives: the default prompt, truncated
        assert embedder.self_test() > 0.9999


def test_prompts_match_sentence_transformers(
    prompted_checkpoint: Path, prompted_build: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(prompted_checkpoint), device="cpu", truncate_dim=256)
    with Embedder.from_folder(prompted_build, "fp32") as embedder:
        pairs = {
            "query": (embedder.embed_query(TEXTS), model.encode_query(TEXTS)),
            "document": (embedder.embed_documents(TEXTS), model.encode_document(TEXTS)),
            "prompt_name=document": (
                embedder.embed(TEXTS, prompt="document"),
                model.encode(TEXTS, prompt_name="document"),
            ),
            "default prompt": (embedder.embed(TEXTS), model.encode(TEXTS)),
        }
    for label, (ours, theirs) in pairs.items():
        assert ours.shape == (len(TEXTS), 256), label
        assert _cosines(ours, theirs).min() >= 0.9999, label
    # the prompts make a difference the comparison above could miss otherwise
    queries, documents = pairs["query"][0], pairs["document"][0]
    assert _cosines(queries, documents).min() < 0.999


def test_truncation_is_numpys_on_the_full_vector(
    prompted_build: Path, minilm_release: Path, tmp_path: Path
) -> None:
    full_folder = tmp_path / "full"
    shutil.copytree(minilm_release, full_folder)
    profile = json.loads((full_folder / "profile.json").read_text())
    profile.update(prompts=PROMPTS, default_prompt_name="query")
    (full_folder / "profile.json").write_text(json.dumps(profile))
    with Embedder.from_folder(full_folder, "fp32") as full:
        whole = full.embed_documents(TEXTS)
    expected = whole[:, :256] / np.linalg.norm(whole[:, :256], axis=1, keepdims=True)
    with Embedder.from_folder(prompted_build, "fp32") as truncated:
        got = truncated.embed_documents(TEXTS)
    np.testing.assert_allclose(got, expected, atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_an_apps_own_data_subfolder_and_embed_as(prompted_build: Path, tmp_path: Path) -> None:
    """N.E.K.O keeps profiles in <app data>/embedding_models/<id>/: load finds them there
    when told, `tether embed --as` applies the role's prompt."""
    import tether

    folder = tmp_path / "xdg-data" / "neko" / "embedding_models" / PROFILE_ID
    prepare_folder(prompted_build, folder, variants=("fp32",))
    with pytest.raises(ProfileIncompleteError):  # the default subfolder is models/
        tether.resolve(PROFILE_ID, app_name="neko")
    with tether.load(PROFILE_ID, app_name="neko", app_subdir="embedding_models") as embedder:
        assert embedder.resolution.source == "user-data" and embedder.folder == folder
        want = {"query": embedder.embed_query(TEXTS), "document": embedder.embed_documents(TEXTS)}
    runner = CliRunner()
    for role, vectors in want.items():
        out = tmp_path / f"{role}.npy"
        args = ["embed", "--as", role, "--profile", PROFILE_ID, "--app-name", "neko"]
        args += ["--app-subdir", "embedding_models", "--out", str(out), *TEXTS]
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        np.testing.assert_array_equal(np.load(out), vectors)
    with pytest.raises(RuntimeOptionError, match="app_subdir"):
        tether.resolve(PROFILE_ID, app_name="neko", app_subdir="../elsewhere")
