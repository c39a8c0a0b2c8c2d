"""Benchmark mirroring a prebuilt ONNX repo: the offline MiniLM with external-data sidecars.

The repo (fp32 + int8, each with a ``_data`` sidecar: tests/hub_server.py) is made once
from a MiniLM build. Each run is a fresh child process, with torch, transformers and onnx
made unimportable, that mirrors it (`[source] prebuilt = "onnx"`):

- ``path``: from the local folder (checks + metadata only);
- ``hub``: from olah on 127.0.0.1 by commit, into an empty Hugging Face cache (download
  included), as `tether build` does against the Hub.

Peak RSS comes from wait4()'s rusage of that child alone. Prints per-run numbers, the
medians and the stage timings.

    .venv/bin/python benchmarks/mirror_minilm.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REPO_ID = "tether-tests/minilm-onnx"
CHILD = r"""
import json, sys
for name in ("torch", "transformers", "onnx", "optimum", "sentence_transformers"):
    sys.modules[name] = None  # a mirror must not need them
from pathlib import Path
from tether.recipe import recipe_from_table, build

kind, where, out = sys.argv[1:]
if kind == "path":
    source = {"type": "path", "path": where, "model": "tether-tests/minilm-onnx"}
else:
    source = {"type": "hf", "repo": "tether-tests/minilm-onnx", "revision": where}
table = {"profile": {"id": "minilm-mirror-v1"}, "source": {**source, "prebuilt": "onnx"}}
result = build(recipe_from_table(table, base_dir=Path(out).parent), Path(out))
print(json.dumps({"timings": result.timings}))
"""

MAKE_REPO = r"""
import sys
from pathlib import Path
from tests.hub_server import make_minilm_onnx_repo
from tests.real_models import build_minilm

tmp, repo = map(Path, sys.argv[1:])
make_minilm_onnx_repo(repo, build_minilm(tmp / "build") / "onnx" / "model.onnx")
"""


def run_child(kind: str, where: str, out: Path, env: dict[str, str]) -> dict:
    """One fresh process; rusage of that child alone (wait4 before Popen reaps it)."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, kind, where, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    stdout = child.stdout.read() if child.stdout else b""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{kind} mirror failed (exit {os.waitstatus_to_exitcode(status)})")
    data = json.loads(stdout)
    data["wall"] = wall
    data["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    return data


def main() -> None:
    from tests.hub_server import commit_folder, hub_repo_dir, start_olah

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per source (default 3)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tether-bench-mirror-") as tmp_name:
        tmp = Path(tmp_name)
        repo = tmp / "repo"
        # In a child: a parent that loaded torch would pass its peak RSS on to every child
        # it forks (Linux keeps ru_maxrss across fork and exec).
        subprocess.run([sys.executable, "-c", MAKE_REPO, tmp, repo], cwd=ROOT, check=True)
        size = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file()) / (1 << 20)
        print(f"repo: {size:.1f} MiB, fp32 + int8 with external-data sidecars")
        server = start_olah(tmp / "olah")
        try:
            commit = commit_folder(hub_repo_dir(server, REPO_ID), repo, "ONNX export")
            results: dict[str, list[dict]] = {"path": [], "hub": []}
            for i in range(args.runs):
                for kind in ("path", "hub"):
                    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
                    env |= {"HF_ENDPOINT": server.url, "HF_HUB_CACHE": str(tmp / f"hf{kind}{i}")}
                    where = str(repo) if kind == "path" else commit
                    run = run_child(kind, where, tmp / f"out-{kind}-{i}", env)
                    results[kind].append(run)
                    stages = ", ".join(
                        f"{k} {v:.1f}" for k, v in run["timings"].items() if k != "total"
                    )
                    print(
                        f"{kind} run {i + 1}: wall {run['wall']:.1f} s, peak RSS "
                        f"{run['peak_rss_mib']:.0f} MiB ({stages})"
                    )
        finally:
            server.stop()
    for kind, runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        rss = statistics.median(r["peak_rss_mib"] for r in runs)
        print(f"{kind}: median wall {wall:.1f} s, median peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
