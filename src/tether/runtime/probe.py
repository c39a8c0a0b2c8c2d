"""Probe self-test: does this onnxruntime, on this CPU, reproduce the release's vectors?

probe.json (written by the build, see docs/recipe.md) holds fixed texts and reference
vectors computed one text at a time: ``{"texts": [...], "fp32": [[...]], "int8": [[...]],
"min_cosine": {"fp32": 0.9999, "int8": 0.99}, ...}``: every list-valued key besides
``texts`` is a variant's reference vectors; other keys are ignored. The references are what
``Embedder.embed(texts)`` returns: the default prompt, if the profile has one, applied, and
truncated to ``dim``. A variant is compared with its own reference when probe.json has
one, else with the fp32 reference. Every probe text must reach the threshold: the call's
``min_cosine``, else probe.json's for that variant, else 0.999 (fp32) / 0.98 (int8 against
fp32 references).

:func:`parse_probe` is the one reader of probe.json (plain Python, no numpy): the
compatibility guard, the promotion gate and the rebuild check get a :class:`ProbeRecord`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tether.errors import ManifestError, ModelOutputError, ProbeMismatchError
from tether.names import PROBE_FILE, PROBE_PARITY_KEY

DEFAULT_MIN_COSINE = {"fp32": 0.999, "int8": 0.98}
_REPAIR_HINT = "repair it: tether fetch --repair"


@dataclass(frozen=True)
class ProbeRecord:
    """A parsed, validated probe.json."""

    texts: tuple[str, ...]
    #: Variant -> one reference vector (a list of floats) per text, all of one width.
    vectors: Mapping[str, list[list[float]]]
    min_cosine: Mapping[str, float]
    #: The build's measured parity, per variant (numbers; tether.quality.gate reads them).
    parity: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def reference_key(self, variant: str) -> str:
        """The variant whose vectors ``variant`` is compared with: its own, else fp32's."""
        return variant if variant in self.vectors else "fp32"

    def width(self, variant: str) -> int | None:
        rows = self.vectors.get(variant)
        return len(rows[0]) if rows else None


def parse_probe(raw: bytes, *, where: str = PROBE_FILE) -> ProbeRecord:
    """The ProbeRecord in probe.json's bytes; a one-line ManifestError for any bad input."""

    def bad(problem: str) -> ManifestError:
        return ManifestError(f"{where}: {problem}", _REPAIR_HINT)

    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    # RecursionError: absurdly deep nesting (tests/runtime/test_hardening.py).
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"{where} is malformed ({exc})", _REPAIR_HINT) from exc
    return probe_from_data(data, where=where)


def probe_from_data(data: Any, *, where: str = PROBE_FILE) -> ProbeRecord:
    """A ProbeRecord from probe.json's decoded JSON; ManifestError naming the bad field."""

    def bad(problem: str) -> ManifestError:
        return ManifestError(f"{where}: {problem}", _REPAIR_HINT)

    if not isinstance(data, dict):
        raise bad("not a JSON object")
    texts = data.get("texts")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise bad("needs 'texts', a list of strings")
    vectors: dict[str, list[list[float]]] = {}
    for key, rows in data.items():
        if key == "texts" or not isinstance(rows, list):
            continue
        if (
            len(rows) != len(texts)
            or not all(isinstance(row, list) and row and all(map(_finite, row)) for row in rows)
            or len({len(row) for row in rows}) > 1
        ):
            raise bad(
                f"{key!r} needs one row of finite numbers per text ({len(texts)}), "
                "all of one length"
            )
        vectors[key] = [[float(x) for x in row] for row in rows]
    thresholds = data.get("min_cosine") or {}
    if not isinstance(thresholds, dict) or not all(map(_finite, thresholds.values())):
        raise bad("'min_cosine' must map variants to finite numbers")
    parity = data.get(PROBE_PARITY_KEY) or {}
    if not isinstance(parity, dict):
        raise bad(f"{PROBE_PARITY_KEY!r} must be an object")
    return ProbeRecord(
        texts=tuple(texts),
        vectors=vectors,
        min_cosine={str(k): float(v) for k, v in thresholds.items()},
        parity=parity,
        raw=data,
    )


def read_probe_file(path: Path) -> ProbeRecord:
    """The probe.json at ``path``; ManifestError when it is missing, unreadable or invalid."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} is missing", _REPAIR_HINT) from exc
    except OSError as exc:  # a folder in its place, no permission
        raise ManifestError(f"{path} cannot be read ({exc.strerror})", _REPAIR_HINT) from exc
    return parse_probe(raw, where=str(path))


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
    record = read_probe_file(path)
    key = record.reference_key(embedder.variant)
    with np.errstate(over="ignore"):  # 1e39 overflows float32: refused as not finite below
        reference = np.asarray(record.vectors.get(key, []), dtype=np.float32)
    if reference.shape != (len(record.texts), embedder.dim) or not np.isfinite(reference).all():
        raise ManifestError(
            f"{path}: needs 'texts' (strings), {key!r} (one row of {embedder.dim} finite "
            "float32 numbers per text) and a finite 'min_cosine', if any",
            _REPAIR_HINT,
        )
    return list(record.texts), reference, key, record.min_cosine.get(key)


def _finite(value: object) -> bool:
    """A number that is neither NaN nor infinite, nor an int too big for a float."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
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
