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
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from tether.errors import ManifestError, ModelOutputError, ProbeMismatchError
from tether.names import PROBE_FILE

DEFAULT_MIN_COSINE = {"fp32": 0.999, "int8": 0.98}


class Probed(Protocol):
    """What the self-test needs of an embedder (the Embedder, without importing it back)."""

    @property
    def folder(self) -> Path: ...

    @property
    def variant(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def model_id(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def read_probe(embedder: Probed) -> tuple[list[str], np.ndarray, str, float | None]:
    """(texts, reference vectors, which reference, probe.json's threshold) for the embedder."""
    path = embedder.folder / PROBE_FILE
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        texts = data["texts"]
        key = embedder.variant if embedder.variant in data else "fp32"
        with np.errstate(over="ignore"):  # 1e39 overflows float32: refused as not finite below
            reference = np.asarray(data[key], dtype=np.float32)
        threshold = (data.get("min_cosine") or {}).get(key)
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} is missing", "repair it: tether fetch --repair") from exc
    except OSError as exc:  # a folder in its place, no permission
        raise ManifestError(
            f"{path} cannot be read ({exc.strerror})", "repair it: tether fetch --repair"
        ) from exc
    # RecursionError: absurdly deep nesting (tests/runtime/test_hardening.py).
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        raise ManifestError(
            f"{path} is malformed ({exc})", "repair it: tether fetch --repair"
        ) from exc
    if (
        not isinstance(texts, list)
        or not all(isinstance(t, str) for t in texts)
        or reference.shape != (len(texts), embedder.dim)
        # NaN passes any `cosine < threshold` test: a NaN reference or threshold would too.
        or not np.isfinite(reference).all()
        or not (threshold is None or _finite(threshold))
    ):
        raise ManifestError(
            f"{path}: needs 'texts' (strings), {key!r} (one row of {embedder.dim} finite "
            "numbers per text) and a finite 'min_cosine', if any",
            "repair it: tether fetch --repair",
        )
    return texts, reference, key, None if threshold is None else float(threshold)


def _finite(value: object) -> bool:
    """A number that is neither NaN nor infinite, nor an int too big for a float."""
    if not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, dim) arrays."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.einsum("ij,ij->i", a64, b64) / np.maximum(norms, 1e-30)


def run_probe(embedder: Probed, *, min_cosine: float | None = None) -> float:
    """The worst probe cosine; ProbeMismatchError (reason probe_mismatch) below the threshold."""
    texts, reference, key, recorded = read_probe(embedder)
    if min_cosine is not None:
        threshold = min_cosine
    elif recorded is not None:
        threshold = recorded
    else:
        threshold = DEFAULT_MIN_COSINE.get(embedder.variant, DEFAULT_MIN_COSINE["int8"])
    # NaN would pass `worst < threshold` below: a damaged model must fail, not pass.
    try:
        vectors = embedder.embed(texts)
        if not np.isfinite(vectors).all():  # an embedder that does not check its output
            model = getattr(embedder, "model_path", embedder.folder)
            raise ModelOutputError(f"{model} gives NaN or infinite values")
    except ModelOutputError as exc:
        raise ProbeMismatchError(
            f"probe self-test failed for {embedder.model_id}: {exc.message}",
            exc.hint,
            reason="bad_output",
        ) from exc
    similarity = cosines(vectors, reference)
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
