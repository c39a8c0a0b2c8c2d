"""Parity: how closely one way of computing the vectors follows another.

The build checks fp32 ONNX against the checkpoint run in torch (the export is right) and
int8 against fp32 (the quantization is good enough), on a fixed, varied set of texts
shipped in the package (parity_texts.json: short, long beyond max_length, code, URLs,
non-Latin scripts, emoji, noise). The probe texts (probe_texts.json) are a small subset
whose vectors go into probe.json for the runtime's self-test.

numpy, onnxruntime and tokenizers are runtime dependencies; torch is imported only in
:func:`embed_torch`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tether.runtime import l2_normalize, pool

if TYPE_CHECKING:
    import torch

PARITY_BATCH = 32  # int8 activation scales cover the whole padded batch: measure it so
ORT_THREADS = 1  # one thread: the same numbers (and probe.json bytes) on every run


def parity_texts() -> list[str]:
    """The built-in parity set (>= 200 texts)."""
    return _texts("parity_texts.json")


def probe_texts() -> list[str]:
    """The built-in probe texts, whose vectors probe.json records."""
    return _texts("probe_texts.json")


def _texts(name: str) -> list[str]:
    data = json.loads(resources.files("tether.recipe").joinpath(name).read_text("utf-8"))
    return list(data["texts"])


@dataclass(frozen=True)
class ParityStats:
    """Cosine similarity of ``candidate`` vectors to ``reference`` vectors, text by text."""

    candidate: str  # e.g. "int8"
    reference: str  # e.g. "fp32"
    mean: float
    min: float
    count: int
    batch_size: int
    worst_text: str

    def describe(self) -> str:
        digits = 7 if self.candidate == "fp32" else 5  # fp32 differs in the 7th digit
        return (
            f"{self.candidate} vs {self.reference} cosine mean {self.mean:.{digits}f} "
            f"min {self.min:.{digits}f} over {self.count} texts in batches of {self.batch_size}"
        )

    def as_record(self) -> dict[str, Any]:
        """The numbers as probe.json keeps them: what the promotion gate reads
        (tether.quality.gate; tests/recipe/test_recipe_build.py pins the shape)."""
        return {
            "reference": self.reference,
            "mean": self.mean,
            "min": self.min,
            "texts": self.count,
            "batch_size": self.batch_size,
        }


def compare(
    candidate: np.ndarray,
    reference: np.ndarray,
    texts: list[str],
    *,
    names: tuple[str, str],
    batch_size: int,
) -> ParityStats:
    cos = cosines(candidate, reference)
    worst = int(np.argmin(cos))
    return ParityStats(
        candidate=names[0],
        reference=names[1],
        mean=float(cos.mean()),
        min=float(cos[worst]),
        count=len(texts),
        batch_size=batch_size,
        worst_text=texts[worst],
    )


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity, in float64."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)


# --- computing vectors --------------------------------------------------------------------


def load_tokenizer(tokenizer_json: bytes) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(tokenizer_json.decode("utf-8"))


def encode(tokenizer: Any, texts: list[str], inputs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Token arrays for one batch, as the runtime feeds them (int64)."""
    encodings = tokenizer.encode_batch(texts)
    arrays = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    return {name: arrays[name] for name in inputs}


def embed_onnx(
    model_file: Path,
    tokenizer: Any,
    texts: list[str],
    *,
    pooling: str,
    unit: bool,
    inputs: tuple[str, ...],
    batch_size: int = PARITY_BATCH,
) -> np.ndarray:
    """Vectors of ``texts`` with onnxruntime, batches in the order given."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = ORT_THREADS
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    # Upstream exports may add outputs (pooler_output, sentence_embedding): take the hidden
    # states, as tether's own export and profile.json's default name them.
    names = [node.name for node in session.get_outputs()]
    output = "last_hidden_state" if "last_hidden_state" in names else names[0]
    out = []
    for start in range(0, len(texts), batch_size):
        feed = encode(tokenizer, texts[start : start + batch_size], inputs)
        hidden = session.run([output], feed)[0]
        out.append(pool(hidden, feed["attention_mask"], pooling))
    vectors = np.concatenate(out).astype(np.float32)
    return l2_normalize(vectors) if unit else vectors


def embed_torch(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: list[str],
    *,
    pooling: str,
    unit: bool,
    inputs: tuple[str, ...],
    batch_size: int = PARITY_BATCH,
) -> np.ndarray:
    """The reference: the checkpoint itself in torch, same tokens, same pooling.

    fp32 vectors do not depend on the batch, so texts run sorted by length: far less
    padding to push through the slower torch graph.
    """
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.zeros((len(texts), 0), dtype=np.float32)
    threads = torch.get_num_threads()
    # One thread: on a busy or shared machine torch's thread pool spins and costs 2-3x the
    # CPU (MiniLM here: 25.6 s on 2 threads vs 9.1 s on 1); on an idle one it saves ~1 s.
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                feed = encode(tokenizer, [texts[i] for i in rows], inputs)
                tensors = {k: torch.from_numpy(v) for k, v in feed.items()}
                hidden = model(**tensors).last_hidden_state
                pooled = pool(hidden.numpy(), feed["attention_mask"], pooling)
                if vectors.shape[1] == 0:
                    vectors = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
                vectors[rows] = pooled
    finally:
        torch.set_num_threads(threads)
    return l2_normalize(vectors) if unit else vectors
