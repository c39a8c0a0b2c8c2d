"""Probe self-test: does this onnxruntime, on this CPU, reproduce the release's vectors?

probe.json (written by the build, see docs/recipe.md) holds fixed texts and their fp32
reference vectors: ``{"texts": [...], "fp32": [[...], ...], ...}`` (other keys are ignored).
Every probe text's vector must reach a cosine of at least 0.999 with its reference for fp32
and 0.98 for int8 (which is compared with the fp32 reference, so it measures quantization
error plus runtime drift). The thresholds can be overridden per call.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from tether.errors import ManifestError, ProbeMismatchError
from tether.profile import PROBE_FILE

if TYPE_CHECKING:
    from tether.runtime.embedder import Embedder

DEFAULT_MIN_COSINE = {"fp32": 0.999, "int8": 0.98}


def read_probe(embedder: Embedder) -> tuple[list[str], np.ndarray]:
    """(texts, fp32 reference vectors) from the profile folder's probe.json."""
    path = embedder.folder / PROBE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        texts = data["texts"]
        reference = np.asarray(data["fp32"], dtype=np.float32)
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} is missing", "re-fetch the profile: tether fetch") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path} is malformed ({exc})", "re-fetch the profile") from exc
    if (
        not isinstance(texts, list)
        or not all(isinstance(t, str) for t in texts)
        or reference.shape != (len(texts), embedder.dim)
    ):
        raise ManifestError(
            f"{path}: needs 'texts' (strings) and 'fp32' ({len(texts)} x {embedder.dim} numbers)",
            "re-fetch the profile",
        )
    return texts, reference


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, dim) arrays."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.einsum("ij,ij->i", a64, b64) / np.maximum(norms, 1e-30)


def run_probe(embedder: Embedder, *, min_cosine: float | None = None) -> float:
    """The worst probe cosine; ProbeMismatchError (reason probe_mismatch) below the threshold."""
    texts, reference = read_probe(embedder)
    threshold = (
        min_cosine if min_cosine is not None else DEFAULT_MIN_COSINE.get(embedder.variant, 0.98)
    )
    similarity = cosines(embedder.embed(texts), reference)
    worst = float(similarity.min()) if len(similarity) else 1.0
    if worst < threshold:
        failing = np.flatnonzero(similarity < threshold)
        raise ProbeMismatchError(
            f"probe self-test failed for {embedder.model_id}: {len(failing)} of {len(texts)} "
            f"probe texts below cosine {threshold} (worst {worst:.4f})",
            worst_cosine=worst,
            problems=[f"probe {i}: cosine {similarity[i]:.4f} {texts[i][:60]!r}" for i in failing],
        )
    return worst
