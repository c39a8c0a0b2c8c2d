"""A text's vector must not depend on its batch: 300 texts in batches of 1, 7 and 32 and
shuffled give bit-identical vectors, for fp32 and int8, on the tiny model and real MiniLM."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import tether
from tests.runtime.helpers import PROFILE_ID, sample_texts
from tether.runtime.tokenizer import TextTokenizer


def assert_batch_invariant(folder: Path, variant: str, texts: list[str]) -> None:
    embedder = tether.load(PROFILE_ID, path=folder, variant=variant)
    reference = embedder.embed(texts)
    for size in (1, 7, 32):
        chunks = [embedder.embed(texts[i : i + size]) for i in range(0, len(texts), size)]
        assert np.array_equal(np.concatenate(chunks), reference), f"batches of {size}"
    order = list(range(len(texts)))
    random.Random(5).shuffle(order)
    shuffled = embedder.embed([texts[i] for i in order])
    assert np.array_equal(shuffled, reference[order]), "shuffled"
    # and the internal run size (token budget) does not matter either
    small = tether.load(
        PROFILE_ID, path=folder, variant=variant, max_batch_tokens=embedder.max_length
    )
    assert np.array_equal(small.embed(texts), reference), "token budget"


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_tiny_model_is_batch_invariant(tiny_folder: Path, variant: str) -> None:
    assert_batch_invariant(tiny_folder, variant, sample_texts(300))


def test_naive_int8_batching_would_change_vectors(tiny_folder: Path) -> None:
    # The control: the tests above can fail. Running the int8 model on a padded batch
    # (dynamic quantization scales over the whole batch) changes the vectors.
    texts = sample_texts(32, seed=11)
    tokenizer = TextTokenizer(tiny_folder / "tokenizer.json", 32)
    rows = tokenizer.encode(texts)
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), np.int64)
    mask = np.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row.ids
        mask[i, : len(row)] = 1
    session = ort.InferenceSession(str(tiny_folder / "onnx/model_quantized.onnx"))
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    batched = session.run(None, feed)[0]
    alone = [
        session.run(None, {k: v[i : i + 1, : len(rows[i])] for k, v in feed.items()})[0]
        for i in range(len(rows))
    ]
    differs = [
        not np.array_equal(batched[i, : len(rows[i])], alone[i][0]) for i in range(len(rows))
    ]
    assert any(differs)


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_minilm_is_batch_invariant(minilm_folder: Path, variant: str) -> None:
    assert_batch_invariant(minilm_folder, variant, sample_texts(300, seed=42))
