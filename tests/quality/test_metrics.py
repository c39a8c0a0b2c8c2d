"""The evaluation metrics against hand-computed cases and trec_eval (pytrec_eval) to 1e-6."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval

from tether.errors import ConfigError
from tether.quality.evaluate import (
    METRICS,
    Dataset,
    load_dataset,
    mean_metrics,
    query_metrics,
    rank,
)


def test_hand_computed_case() -> None:
    grades = {"a": 2, "b": 1, "z": 0}
    got = query_metrics(["x", "b", "a"], grades)
    dcg = 1 / math.log2(3) + 2 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert got["ndcg@10"] == pytest.approx(dcg / idcg)
    assert got["recall@10"] == 1.0 and got["recall@100"] == 1.0
    assert got["mrr@10"] == pytest.approx(1 / 2)
    # a relevant doc at rank 11 counts for recall@100 only
    ranked = [f"n{i}" for i in range(10)] + ["a"]
    got = query_metrics(ranked, grades)
    assert got["recall@10"] == 0.0 and got["recall@100"] == 0.5 and got["mrr@10"] == 0.0


def test_rank_breaks_ties_like_trec_eval() -> None:
    scores = np.array([[0.5, 0.9, 0.5, 0.1]], dtype=np.float32)
    assert rank(scores, ["d1", "d2", "d3", "d4"], depth=3) == [["d2", "d3", "d1"]]


def _tfidf_scores(data: Dataset) -> np.ndarray:
    """A meaningful ranking without a model: tf-idf cosine over lowercase words."""
    tokens = [re.findall(r"[a-z']+", t.lower()) for t in data.doc_texts]
    df = Counter(w for doc in tokens for w in set(doc))
    vocab = {w: i for i, w in enumerate(sorted(df))}
    idf = np.array([math.log(len(tokens) / df[w]) for w in sorted(df)])

    def vec(words: list[str]) -> np.ndarray:
        v = np.zeros(len(vocab))
        for w in words:
            if w in vocab:
                v[vocab[w]] += 1
        v *= idf
        return v / max(np.linalg.norm(v), 1e-12)

    docs = np.stack([vec(t) for t in tokens])
    queries = np.stack([vec(re.findall(r"[a-z']+", q.lower())) for q in data.query_texts])
    return queries @ docs.T


def _reference(scores: np.ndarray, data: Dataset, depth: int = 100) -> dict[str, dict[str, float]]:
    run = {}
    for qid, row in zip(data.query_ids, scores, strict=True):
        top = np.argsort(-row, kind="stable")[:depth]
        run[qid] = {data.doc_ids[i]: float(row[i]) for i in top}
    measures = {"ndcg_cut_10", "recall_10", "recall_100"}
    full = pytrec_eval.RelevanceEvaluator(data.qrels, measures).evaluate(run)
    # MRR@10 = trec_eval's recip_rank over the run cut at 10 (in trec_eval's own order)
    cut = {
        q: dict(sorted(docs.items(), key=lambda kv: (-kv[1], _neg(kv[0])))[:10])
        for q, docs in run.items()
    }
    rr = pytrec_eval.RelevanceEvaluator(data.qrels, {"recip_rank"}).evaluate(cut)
    return {
        q: {
            "ndcg@10": full[q]["ndcg_cut_10"],
            "recall@10": full[q]["recall_10"],
            "recall@100": full[q]["recall_100"],
            "mrr@10": rr[q]["recip_rank"],
        }
        for q in full
    }


def _neg(doc_id: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in doc_id)  # doc id descending


@pytest.mark.parametrize("kind", ["tfidf", "tied"])
def test_metrics_match_pytrec_eval_on_the_bundled_set(kind: str) -> None:
    data = load_dataset()
    scores = _tfidf_scores(data)
    if kind == "tied":  # coarse scores: many ties, which trec_eval orders by doc id desc
        scores = np.round(scores * 4) / 4
    ranked = rank(scores.astype(np.float32), data.doc_ids)
    means, per_query = mean_metrics(dict(zip(data.query_ids, ranked, strict=True)), data.qrels)
    reference = _reference(scores.astype(np.float32), data)
    assert set(per_query) == set(reference)
    for q, values in per_query.items():
        for m in METRICS:
            assert values[m] == pytest.approx(reference[q][m], abs=1e-6), (q, m)
    for m in METRICS:
        ref_mean = sum(r[m] for r in reference.values()) / len(reference)
        assert means[m] == pytest.approx(ref_mean, abs=1e-6)
    if kind == "tfidf":  # the set is not trivial for a lexical ranker
        assert 0.3 < means["ndcg@10"] < 0.95


def test_bundled_set_shape() -> None:
    data = load_dataset()
    assert len(data.query_ids) == 100 and len(data.doc_ids) == 1000
    grades = Counter(g for q in data.qrels.values() for g in q.values())
    assert grades == {2: 100, 1: 100}
    assert data.digest.startswith("sha256:") and data.name == "tether-bundled"


def test_bundled_set_is_reproducible(tmp_path: Path) -> None:
    from tether.quality.evalsets import make_evalset

    make_evalset.write(tmp_path)
    bundled = load_dataset()
    assert load_dataset(tmp_path).digest == bundled.digest


def test_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"corpus\.jsonl is missing"):
        load_dataset(tmp_path)


def test_eval_cli_on_a_build_folder(minilm_build: Path, tmp_path: Path) -> None:
    """`tether eval --folder` on a small slice of the bundled set (a real MiniLM)."""
    import json

    from click.testing import CliRunner

    from tether.cli import main
    from tether.quality.evaluate import bundled_dataset_dir

    src, dest = bundled_dataset_dir(), tmp_path / "slice"
    (dest / "qrels").mkdir(parents=True)
    corpus = (src / "corpus.jsonl").read_text().splitlines()[:40]  # 4 subjects x 10 aspects
    queries = (src / "queries.jsonl").read_text().splitlines()[:4]
    (dest / "corpus.jsonl").write_text("\n".join(corpus) + "\n")
    (dest / "queries.jsonl").write_text("\n".join(queries) + "\n")
    qrels = (src / "qrels" / "test.tsv").read_text().splitlines()[:9]
    (dest / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")
    result = CliRunner().invoke(
        main, ["eval", "--folder", str(minilm_build), "--dataset", str(dest), "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout[result.stdout.index("{") :])
    assert body["dataset"] == {
        "name": "slice",
        "sha256": load_dataset(dest).digest,
        "queries": 4,
        "passages": 40,
    }
    assert set(body["variants"]) == {"fp32", "int8"}
    assert body["variants"]["fp32"]["ndcg@10"] > 0.7
    assert body["int8_vs_fp32"]["mean_cosine"] > 0.98
