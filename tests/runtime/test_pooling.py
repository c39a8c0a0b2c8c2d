"""Pooling (mean, cls, last) for right and left padding, and L2 normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from tether.runtime.pooling import l2_normalize, pool

RNG = np.random.default_rng(0)


def padded(tokens: list[np.ndarray], left: bool) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(t) for t in tokens)
    hidden = RNG.normal(size=(len(tokens), width, tokens[0].shape[1])).astype(np.float32)
    mask = np.zeros((len(tokens), width), dtype=np.int64)
    for row, t in enumerate(tokens):
        span = slice(width - len(t), width) if left else slice(0, len(t))
        hidden[row, span] = t  # padding positions keep random garbage on purpose
        mask[row, span] = 1
    return hidden, mask


@pytest.mark.parametrize("left", [False, True])
def test_pooling_ignores_padding_on_either_side(left: bool) -> None:
    tokens = [RNG.normal(size=(n, 8)).astype(np.float32) for n in (3, 7, 1, 5)]
    hidden, mask = padded(tokens, left)
    for pooling, expected in (
        ("mean", [t.sum(axis=0) / np.float32(len(t)) for t in tokens]),
        ("cls", [t[0] for t in tokens]),
        ("last", [t[-1] for t in tokens]),
    ):
        got = pool(hidden, mask, pooling)
        assert got.dtype == np.float32 and got.shape == (4, 8)
        for row, want in enumerate(expected):
            # bit-identical to pooling the unpadded tokens alone: batch invariance
            assert np.array_equal(got[row], want), (pooling, row)
            alone = pool(tokens[row][None], np.ones((1, len(tokens[row])), np.int64), pooling)
            assert np.array_equal(got[row], alone[0])


def test_empty_mask_row_and_pre_pooled_output() -> None:
    hidden = np.ones((2, 3, 4), dtype=np.float32)
    mask = np.array([[1, 1, 0], [0, 0, 0]])
    assert np.array_equal(pool(hidden, mask, "mean")[1], np.zeros(4, np.float32))
    pooled = RNG.normal(size=(2, 4)).astype(np.float32)
    assert np.array_equal(pool(pooled, mask, "mean"), pooled)
    with pytest.raises(ValueError, match="unknown pooling"):
        pool(hidden, mask, "max")


def test_l2_normalize_row_by_row() -> None:
    vectors = RNG.normal(size=(5, 16)).astype(np.float32)
    vectors[2] = 0.0
    alone = [l2_normalize(v[None].copy())[0] for v in vectors]
    together = l2_normalize(vectors.copy())
    assert np.allclose(np.linalg.norm(together[[0, 1, 3, 4]], axis=1), 1.0, atol=1e-6)
    assert np.array_equal(together[2], np.zeros(16, np.float32))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))
