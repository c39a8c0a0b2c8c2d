"""Probe self-test: does this onnxruntime, on this CPU, reproduce the release's vectors?

probe.json (written by the build, see docs/recipe.md) holds fixed texts and reference
vectors computed one text at a time: ``{"texts": [...], "fp32": [[...]], "int8": [[...]],
"min_cosine": {"fp32": 0.9999, "int8": 0.99}, ...}`` (other keys are ignored). A variant is
compared with its own reference when probe.json has one, else with the fp32 reference.
Every probe text must reach the threshold: the call's ``min_cosine``, else probe.json's
for that variant, else 0.999 (fp32) / 0.98 (int8 against fp32 references).
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


def read_probe(embedder: Embedder) -> tuple[list[str], np.ndarray, str, float | None]:
    """(texts, reference vectors, which reference, probe.json's threshold) for the embedder."""
    path = embedder.folder / PROBE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        texts = data["texts"]
        key = embedder.variant if embedder.variant in data else "fp32"
        reference = np.asarray(data[key], dtype=np.float32)
        threshold = (data.get("min_cosine") or {}).get(key)
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} is missing", "re-fetch the profile: tether fetch") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"{path} is malformed ({exc})", "re-fetch the profile") from exc
    if (
        not isinstance(texts, list)
        or not all(isinstance(t, str) for t in texts)
        or reference.shape != (len(texts), embedder.dim)
        or not (threshold is None or isinstance(threshold, (int, float)))
    ):
        raise ManifestError(
            f"{path}: needs 'texts' (strings) and {key!r} ({len(texts)} x {embedder.dim} numbers)",
            "re-fetch the profile",
        )
    return texts, reference, key, None if threshold is None else float(threshold)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, dim) arrays."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.einsum("ij,ij->i", a64, b64) / np.maximum(norms, 1e-30)


def run_probe(embedder: Embedder, *, min_cosine: float | None = None) -> float:
    """The worst probe cosine; ProbeMismatchError (reason probe_mismatch) below the threshold."""
    texts, reference, key, recorded = read_probe(embedder)
    if min_cosine is not None:
        threshold = min_cosine
    elif recorded is not None:
        threshold = recorded
    else:
        threshold = DEFAULT_MIN_COSINE.get(embedder.variant, DEFAULT_MIN_COSINE["int8"])
    similarity = cosines(embedder.embed(texts), reference)
    worst = float(similarity.min()) if len(similarity) else 1.0
    if worst < threshold:
        failing = np.flatnonzero(similarity < threshold)
        raise ProbeMismatchError(
            f"probe self-test failed for {embedder.model_id}: {len(failing)} of {len(texts)} "
            f"probe texts below cosine {threshold} against the {key} reference "
            f"(worst {worst:.6f})",
            worst_cosine=worst,
            problems=[f"probe {i}: cosine {similarity[i]:.6f} {texts[i][:60]!r}" for i in failing],
        )
    return worst
