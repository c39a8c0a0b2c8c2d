"""Vector stamps: which model made a stored vector, so an app re-embeds exactly the stale ones.

A stamp is the model id (``local-text-retrieval-v1-384d-int8-mlen256``, see
``Profile.model_id``). A stored vector is current when its stamp equals the embedder's model
id, it has the embedder's dimension, and every value is finite. Anything else is stale and
has to be embedded again: vectors of another profile, variant or max_length are not
comparable, and a NaN would poison every similarity it takes part in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tether.errors import RuntimeOptionError

#: Reasons a stored vector is stale, as returned by :func:`vector_problem`.
VECTOR_PROBLEMS = {
    "missing_stamp": "the vector has no stamp",
    "stamp_differs": "made by another model (profile, variant or max_length)",
    "wrong_length": "length differs from the model's dimension",
    "not_finite": "holds NaN or infinite values",
    "not_a_vector": "not a one-dimensional array of numbers",
}


@dataclass(frozen=True)
class StampedVector:
    """A vector and the model id that made it, ready to be stored."""

    model_id: str
    vector: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "vector": [float(x) for x in self.vector]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StampedVector:
        return cls(str(data["model_id"]), np.asarray(data["vector"], dtype=np.float32))


def vector_problem(vector: Any, stamp: str | None, *, model_id: str, dim: int) -> str | None:
    """None when a stored (vector, stamp) is current for ``model_id``, else the reason code."""
    if not stamp:
        return "missing_stamp"
    if stamp != model_id:
        return "stamp_differs"
    try:
        array = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError):
        return "not_a_vector"
    if array.ndim != 1:
        return "not_a_vector"
    if array.shape[0] != dim:
        return "wrong_length"
    if not np.isfinite(array).all():
        return "not_finite"
    return None


def stamp(vector: Any, *, model_id: str, dim: int) -> StampedVector:
    """``vector`` stamped with ``model_id``; RuntimeOptionError when it is not a valid vector."""
    problem = vector_problem(vector, model_id, model_id=model_id, dim=dim)
    if problem is not None:
        raise RuntimeOptionError(
            f"cannot stamp this vector for {model_id}: {VECTOR_PROBLEMS[problem]}",
            "stamp vectors straight from Embedder.embed",
        )
    return StampedVector(model_id, np.asarray(vector, dtype=np.float32))


def stale(
    stored: Iterable[tuple[str | None, Any]] | Sequence[StampedVector],
    *,
    model_id: str,
    dim: int,
) -> list[int]:
    """Indices of the stored (stamp, vector) pairs (or StampedVectors) that need re-embedding."""
    indices = []
    for index, item in enumerate(stored):
        if isinstance(item, StampedVector):
            item_stamp, vector = item.model_id, item.vector
        else:
            item_stamp, vector = item
        if vector_problem(vector, item_stamp, model_id=model_id, dim=dim) is not None:
            indices.append(index)
    return indices
