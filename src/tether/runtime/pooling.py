"""Token vectors -> one vector per text: mean, first token (cls) or last token, then L2 norm.

Each row is pooled over its own contiguous run of real tokens, located from the attention
mask, so left and right padding give the same result, and a row's vector is computed by the
same numpy operations on the same values whatever the batch around it (batch invariance).
"""

from __future__ import annotations

import numpy as np

from tether.profile import POOLINGS


def pool(hidden: np.ndarray, attention_mask: np.ndarray, pooling: str) -> np.ndarray:
    """(batch, seq, dim) token vectors + (batch, seq) mask -> (batch, dim) float32."""
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; known: {', '.join(POOLINGS)}")
    if hidden.ndim == 2:  # the model pooled already (e.g. a sentence_embedding output)
        return np.ascontiguousarray(hidden, dtype=np.float32)
    mask = attention_mask.astype(bool)
    lengths = mask.sum(axis=1)
    firsts = mask.argmax(axis=1)  # real tokens form one run: left padding starts it later
    out = np.empty((hidden.shape[0], hidden.shape[2]), dtype=np.float32)
    for row, (first, length) in enumerate(zip(firsts.tolist(), lengths.tolist(), strict=True)):
        if length == 0:
            out[row] = 0.0
        elif pooling == "mean":
            tokens = hidden[row, first : first + length]
            out[row] = tokens.sum(axis=0, dtype=np.float32) / np.float32(length)
        elif pooling == "cls":
            out[row] = hidden[row, first]
        else:  # last
            out[row] = hidden[row, first + length - 1]
    return out


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, in place (all-zero rows stay zero).

    Row by row on purpose: the norm of a row must not depend on how many rows share the
    array (a vectorised reduction may group its sums differently by shape).
    """
    for row in vectors:
        norm = np.float32(np.sqrt(np.dot(row, row)))
        if norm > 0:
            row /= norm
    return vectors
