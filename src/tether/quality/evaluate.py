"""Retrieval quality of a release: nDCG@10, Recall@10/100, MRR@10 on a BEIR-layout dataset.

A dataset is a folder with ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``;
header line). Search is exact: every query against every passage, dot product of the
L2-normalised vectors (numpy), which is fine up to ~100k passages.

The metrics follow trec_eval (what BEIR reports through pytrec_eval): graded relevance
with linear gain in nDCG, relevant = score >= 1, ties broken by document id. The tests
check them against pytrec_eval to 1e-6.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tether
from tether.errors import ConfigError, EvaluationError
from tether.model_card import KIND_LABELS, artifact_kind
from tether.names import EVAL_RECORD, PROFILE_FILE
from tether.profile import read_profile
from tether.versioning import release_tag

if TYPE_CHECKING:
    import numpy as np

    from tether.stores.base import Store

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
DEPTH = 100  # ranked list length kept per query (the deepest cutoff)
BATCH = 64  # texts per embed call: bounds memory, gives progress steps
Progress = Callable[[str], None]


# --- dataset ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> grade
    digest: str  # sha256 over the three files: a cached EVAL.json is reused only on a match

    def describe(self) -> str:
        return f"{self.name} ({len(self.query_ids)} queries, {len(self.doc_ids)} passages)"

    def as_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.digest,
            "queries": len(self.query_ids),
            "passages": len(self.doc_ids),
        }


def bundled_dataset_dir() -> Path:
    """The evaluation set tether ships (src/tether/quality/evalsets, see its README.md)."""
    return Path(str(resources.files("tether.quality.evalsets")))


def load_dataset(folder: Path | None = None, *, split: str = "test") -> Dataset:
    """Read a BEIR-layout folder (the bundled set when ``folder`` is None)."""
    folder = Path(folder) if folder is not None else bundled_dataset_dir()
    corpus_file, queries_file = folder / "corpus.jsonl", folder / "queries.jsonl"
    qrels_file = folder / "qrels" / f"{split}.tsv"
    for path in (corpus_file, queries_file, qrels_file):
        if not path.is_file():
            raise ConfigError(
                f"{folder} is not a BEIR dataset: {path.name} is missing",
                "give a folder with corpus.jsonl, queries.jsonl and qrels/test.tsv",
            )
    digest = hashlib.sha256()
    corpus = _jsonl(corpus_file, digest)
    queries = _jsonl(queries_file, digest)
    raw_qrels = qrels_file.read_bytes()
    digest.update(raw_qrels)
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(raw_qrels.decode("utf-8").splitlines(), 1):
        parts = line.split("\t")
        if not line.strip() or (n == 1 and not parts[-1].strip().lstrip("-").isdigit()):
            continue  # blank, or the header
        if len(parts) != 3:
            raise ConfigError(f"{qrels_file}:{n}: expected query-id<TAB>corpus-id<TAB>score")
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    doc_ids = [str(d["_id"]) for d in corpus]
    # BEIR embeds "title text" for passages that have a title
    doc_texts = [f"{d.get('title', '')} {d.get('text', '')}".strip() for d in corpus]
    wanted = [q for q in queries if str(q["_id"]) in qrels]  # unjudged queries do not count
    if not wanted:
        raise ConfigError(f"{folder}: no query of queries.jsonl has judgements in {split}.tsv")
    return Dataset(
        name=folder.name if folder != bundled_dataset_dir() else "tether-bundled",
        doc_ids=doc_ids,
        doc_texts=doc_texts,
        query_ids=[str(q["_id"]) for q in wanted],
        query_texts=[str(q["text"]) for q in wanted],
        qrels={q: g for q, g in qrels.items() if q in {str(w["_id"]) for w in wanted}},
        digest="sha256:" + digest.hexdigest(),
    )


def _jsonl(path: Path, digest: Any) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    digest.update(raw)
    rows = []
    for n, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ConfigError(f"{path}:{n}: not JSON ({exc})") from None
    return rows


# --- metrics ------------------------------------------------------------------------------


def rank(scores: np.ndarray, doc_ids: list[str], depth: int = DEPTH) -> list[list[str]]:
    """Per query row, the ``depth`` best doc ids: score descending, then doc id descending
    (trec_eval's tie order, so the metrics match pytrec_eval's exactly)."""
    import numpy as np

    depth = min(depth, len(doc_ids))
    order_ids = np.array(doc_ids)
    ranked = []
    for row in scores:
        top = np.argpartition(-row, depth - 1)[:depth] if depth < len(row) else np.arange(len(row))
        cut = row[top].min()
        top = np.flatnonzero(row >= cut)  # keep every doc tied at the cutoff
        keys = sorted(((-float(row[i]), order_ids[i]) for i in top), key=_trec_key)
        ranked.append([doc for _, doc in keys][:depth])
    return ranked


def _trec_key(item: tuple[float, str]) -> tuple[float, _Desc]:
    return (item[0], _Desc(item[1]))


class _Desc(str):
    """A str that sorts in reverse (doc ids descending within equal scores)."""

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)


def query_metrics(ranked: list[str], grades: dict[str, int]) -> dict[str, float]:
    """nDCG@10 (linear gain), Recall@10/100 and MRR@10 of one ranked list."""
    relevant = {d for d, g in grades.items() if g > 0}
    gains = [max(grades.get(d, 0), 0) for d in ranked[:10]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    first = next((i for i, d in enumerate(ranked[:10]) if d in relevant), None)
    n = len(relevant)
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "recall@10": len(relevant & set(ranked[:10])) / n if n else 0.0,
        "recall@100": len(relevant & set(ranked[:100])) / n if n else 0.0,
        "mrr@10": 1.0 / (first + 1) if first is not None else 0.0,
    }


def mean_metrics(
    run: dict[str, list[str]], qrels: dict[str, dict[str, int]]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(means over the judged queries, per-query values)."""
    per_query = {q: query_metrics(run.get(q, []), grades) for q, grades in qrels.items()}
    means = {m: sum(v[m] for v in per_query.values()) / len(per_query) for m in METRICS}
    return means, per_query


# --- evaluating a model folder ------------------------------------------------------------


@dataclass
class VariantResult:
    variant: str
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    run: dict[str, list[str]]
    seconds: float
    doc_vectors: Any = field(default=None, repr=False)  # kept for the int8/fp32 agreement
    query_vectors: Any = field(default=None, repr=False)


def embed_all(embedder: Any, texts: list[str], progress: Progress | None, label: str) -> Any:
    import numpy as np

    out = []
    for start in range(0, len(texts), BATCH):
        out.append(embedder.embed(texts[start : start + BATCH]))
        done = min(start + BATCH, len(texts))
        if progress and (done == len(texts) or (start // BATCH) % 4 == 3):  # every 256 texts
            progress(f"{label}: {done}/{len(texts)}")
    vectors = np.concatenate(out).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)  # cosine search whatever the profile says


def evaluate_folder(
    folder: Path,
    dataset: Dataset,
    *,
    variant: str = "fp32",
    progress: Progress | None = None,
) -> VariantResult:
    """Embed the dataset with one variant of a profile folder and score exact search."""
    started = time.perf_counter()
    from tether.runtime import Embedder

    with Embedder.from_folder(folder, variant) as embedder:
        docs = embed_all(embedder, dataset.doc_texts, progress, f"{variant} passages")
        queries = embed_all(embedder, dataset.query_texts, progress, f"{variant} queries")
    ranked = rank(queries @ docs.T, dataset.doc_ids)
    run = dict(zip(dataset.query_ids, ranked, strict=True))
    means, per_query = mean_metrics(run, dataset.qrels)
    return VariantResult(
        variant, means, per_query, run, time.perf_counter() - started, docs, queries
    )


def agreement(fp32: VariantResult, int8: VariantResult) -> dict[str, float]:
    """How closely int8 follows fp32 on this dataset: vector cosines and top-10 overlap."""
    import numpy as np

    cos = np.concatenate(
        [
            np.sum(fp32.doc_vectors * int8.doc_vectors, axis=1),
            np.sum(fp32.query_vectors * int8.query_vectors, axis=1),
        ]
    )
    overlap = [
        len(set(fp32.run[q][:10]) & set(int8.run[q][:10])) / 10 for q in fp32.run if q in int8.run
    ]
    return {
        "mean_cosine": round(float(cos.mean()), 6),
        "min_cosine": round(float(cos.min()), 6),
        "top10_overlap": round(sum(overlap) / len(overlap), 6),
    }


def profile_variants(folder: Path) -> list[str]:
    profile = read_profile(Path(folder))
    return [v for v in ("fp32", "int8") if v in profile.variants]


def evaluate_model(
    folder: Path, dataset: Dataset, *, progress: Progress | None = None
) -> dict[str, Any]:
    """The EVAL.json body for a profile folder: metrics per variant, int8/fp32 agreement."""
    if not (Path(folder) / PROFILE_FILE).is_file():
        raise EvaluationError(
            f"{folder} has no profile.json: only embedding profiles can be evaluated",
            "build it with tether build (a release of another kind has no retrieval metrics)",
        )
    if progress is not None:  # only once it is known to be evaluable
        progress(f"evaluating on {dataset.describe()}")
    results = {
        v: evaluate_folder(folder, dataset, variant=v, progress=progress)
        for v in profile_variants(folder)
    }
    body: dict[str, Any] = {
        "schema": 1,
        "dataset": dataset.as_record(),
        "metrics": list(METRICS),
        "variants": {
            v: {
                **{m: round(r.metrics[m], 6) for m in METRICS},
                "seconds": round(r.seconds, 2),
            }
            for v, r in results.items()
        },
        "tether": tether.__version__,
        "at": datetime.now(tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if "fp32" in results and "int8" in results:
        body["int8_vs_fp32"] = agreement(results["fp32"], results["int8"])
    return body


# --- releases in a store ------------------------------------------------------------------


def read_eval(store: Store, name: str, version: str) -> dict[str, Any] | None:
    raw = store.read_record(name, version, EVAL_RECORD)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None  # a damaged cache is recomputed, never trusted
    return data if isinstance(data, dict) else None


def evaluate_release(
    store: Store,
    name: str,
    version: str,
    dataset: Dataset,
    *,
    progress: Progress | None = None,
    reuse: bool = True,
) -> dict[str, Any]:
    """EVAL.json of a release on ``dataset``: the record's when it is for the same dataset
    bytes (releases are immutable, so the numbers cannot have changed), else computed on a
    verified download and left for the caller to write."""
    from tether.spine import download_release, read_manifest

    manifest, _ = read_manifest(store, name, version)
    if PROFILE_FILE not in manifest.files:  # before any download: tests/quality/test_cards.py
        kind = KIND_LABELS[artifact_kind(manifest.files)]
        raise EvaluationError(
            f"{name} {release_tag(version)} is {kind}, not an embedding profile: "
            "only embedding profiles have retrieval metrics",
            "evaluate a release built by tether build (its MANIFEST.txt lists profile.json)",
        )
    cached = read_eval(store, name, version) if reuse else None
    if cached and cached.get("dataset", {}).get("sha256") == dataset.digest:
        return cached
    with tempfile.TemporaryDirectory(prefix="tether-eval-") as tmp:
        if progress:
            progress(f"downloading {name} {version} (verified)")
        folder = download_release(store, name, version, Path(tmp) / "release")
        body = evaluate_model(folder, dataset, progress=progress)
    body["release"] = {"name": name, "version": version}
    return body


def write_eval(store: Store, name: str, version: str, body: dict[str, Any]) -> None:
    """Into the release's mutable record: its immutable files never change."""
    store.write_record(name, version, EVAL_RECORD, (json.dumps(body, indent=2) + "\n").encode())


def deltas(candidate: dict[str, Any], baseline: dict[str, Any]) -> dict[str, dict[str, float]]:
    """candidate - baseline per variant both have, per metric."""
    out: dict[str, dict[str, float]] = {}
    for variant, cand in candidate.get("variants", {}).items():
        base = baseline.get("variants", {}).get(variant)
        if base:
            out[variant] = {m: round(cand[m] - base[m], 6) for m in METRICS if m in base}
    return out


def format_table(
    candidate: dict[str, Any],
    baseline: dict[str, Any] | None = None,
    *,
    labels: tuple[str, str] = ("candidate", "baseline"),
) -> str:
    """The comparison as an aligned text table, metrics in points (x100)."""
    lines = [
        f"dataset: {candidate['dataset']['name']} ({candidate['dataset']['queries']} "
        f"queries, {candidate['dataset']['passages']} passages)"
    ]
    head = f"{'variant':<8}{'metric':<12}{labels[0]:>11}"
    if baseline:
        head += f"{labels[1]:>11}{'delta':>9}"
    lines.append(head)
    for variant, cand in candidate.get("variants", {}).items():
        base = (baseline or {}).get("variants", {}).get(variant)
        for m in METRICS:
            row = f"{variant:<8}{m:<12}{100 * cand[m]:>11.2f}"
            if baseline:
                row += (
                    f"{100 * base[m]:>11.2f}{100 * (cand[m] - base[m]):>+9.2f}"
                    if base and m in base
                    else f"{'-':>11}{'':>9}"
                )
            lines.append(row)
    for label, body in ((labels[0], candidate), (labels[1], baseline)):
        agree = (body or {}).get("int8_vs_fp32")
        if agree:
            lines.append(
                f"int8 vs fp32 ({label}): cosine mean {agree['mean_cosine']:.5f} min "
                f"{agree['min_cosine']:.5f}, top-10 overlap {100 * agree['top10_overlap']:.1f}%"
            )
    return "\n".join(lines)


def stderr_progress(message: str) -> None:
    """One overwritten status line on stderr (a new line per message when not a tty)."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
        if message.endswith("done"):
            sys.stderr.write("\n")
    else:
        sys.stderr.write(message + "\n")
    sys.stderr.flush()
