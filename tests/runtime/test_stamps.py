"""Vector stamps: model ids, stamping, and telling which stored vectors are stale."""

from __future__ import annotations

import numpy as np
import pytest

from tether.errors import RuntimeOptionError
from tether.runtime.stamps import StampedVector, stale, stamp, vector_problem

MODEL = "local-text-retrieval-v1-384d-int8-mlen256"


def test_current_vector_has_no_problem() -> None:
    vector = np.full(384, 0.05, dtype=np.float32)
    assert vector_problem(vector, MODEL, model_id=MODEL, dim=384) is None
    assert vector_problem(vector.tolist(), MODEL, model_id=MODEL, dim=384) is None


@pytest.mark.parametrize(
    ("vector", "stamp_", "problem"),
    [
        (np.zeros(384), None, "missing_stamp"),
        (np.zeros(384), "local-text-retrieval-v1-384d-fp32-mlen256", "stamp_differs"),
        (np.zeros(383), MODEL, "wrong_length"),
        (np.zeros((2, 384)), MODEL, "not_a_vector"),
        (["a"] * 384, MODEL, "not_a_vector"),
        (np.r_[np.zeros(383), np.nan], MODEL, "not_finite"),
        (np.r_[np.zeros(383), np.inf], MODEL, "not_finite"),
    ],
)
def test_stale_vectors_and_why(vector: object, stamp_: str | None, problem: str) -> None:
    assert vector_problem(vector, stamp_, model_id=MODEL, dim=384) == problem


def test_stamp_roundtrip_and_refusal() -> None:
    stamped = stamp(np.ones(4) / 2, model_id="m-4d-fp32-mlen8", dim=4)
    assert stamped.vector.dtype == np.float32
    again = StampedVector.from_dict(stamped.to_dict())
    assert again.model_id == "m-4d-fp32-mlen8" and np.array_equal(again.vector, stamped.vector)
    with pytest.raises(RuntimeOptionError, match="NaN"):
        stamp(np.array([0.0, np.nan, 0.0, 0.0]), model_id="m", dim=4)


def test_stale_lists_exactly_the_vectors_to_re_embed() -> None:
    good = np.ones(3, np.float32)
    stored = [
        (MODEL, good),
        ("old-model", good),
        (MODEL, good[:2]),
        (None, good),
        (MODEL, np.array([1.0, np.nan, 0.0])),
    ]
    assert stale(stored, model_id=MODEL, dim=3) == [1, 2, 3, 4]
    assert stale([StampedVector(MODEL, good)], model_id=MODEL, dim=3) == []
