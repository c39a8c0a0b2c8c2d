"""Fetch of a release from the GitHub stand-in vs `gh release download` of the same assets.

Publishes one ``--size-mib`` model file (plus vocab.txt) as model-v1.0.0 on
tests/github_server.py behind Prism (GitHub's OpenAPI description), then alternates, in one
run: `tether`'s fetch (every byte hashed while written, verified, activated) and the real
`gh release download` (through the stand-in's unix socket) followed by `sha256sum -c` on
MANIFEST.txt, which is what the same guarantee costs without tether. Needs gh (Debian) and
the npm packages tests/github_server.py names.

    .venv/bin/python benchmarks/github_fetch.py [--size-mib 256] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.factories import write_random  # noqa: E402
from tests.github_server import GitHubServer, find_prism, start_prism, trimmed_spec  # noqa: E402
from tether.spine import fetch_release, publish_release  # noqa: E402
from tether.stores import open_store  # noqa: E402

TOKEN = "bench-token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    found = find_prism(ROOT)
    if found is None:
        sys.exit("Prism and @octokit/openapi are not installed (see tests/github_server.py)")
    os.environ["GITHUB_TOKEN"] = TOKEN
    root = Path(tempfile.mkdtemp(prefix="tether-gh-bench-"))
    server = GitHubServer(root, TOKEN)
    prism = start_prism(found[0], trimmed_spec(found[1], root / "spec.json"), server.direct, root)
    server.front_with(prism.url)
    try:
        source = root / "model"
        write_random(source / "model.onnx", args.size_mib << 20, seed=1)
        (source / "vocab.txt").write_text("[PAD]\nhello\n")
        url = f"github://bench/models?api={prism.url}"
        publish_release(open_store(url), source, name="demo", version="1.0.0")
        config = root / "gh-config"
        config.mkdir()
        env = {
            **os.environ,
            "GH_CONFIG_DIR": str(config),
            "GH_HOST": "github.localhost",
            "GH_ENTERPRISE_TOKEN": TOKEN,
            "GH_TOKEN": TOKEN,
            "GH_PROMPT_DISABLED": "1",
        }
        sock = str(server.socket_path)
        subprocess.run(["gh", "config", "set", "http_unix_socket", sock], env=env, check=True)
        tether_s, gh_s = [], []
        for run in range(args.runs):
            shutil.rmtree(root / "models", ignore_errors=True)
            start = time.perf_counter()
            fetch_release(open_store(url), "demo", "1.0.0", root / "models")
            tether_s.append(time.perf_counter() - start)
            out = root / f"gh-{run}"
            start = time.perf_counter()
            subprocess.run(
                [
                    "gh",
                    "release",
                    "download",
                    "model-v1.0.0",
                    "-R",
                    "github.localhost/bench/models",
                    "-D",
                    str(out),
                ],
                env=env,
                check=True,
            )
            subprocess.run(
                "grep -E '^[0-9a-f]{64}  [^/]*$' MANIFEST.txt | sha256sum -c --quiet",
                shell=True,
                cwd=out,
                check=True,
            )
            gh_s.append(time.perf_counter() - start)
            shutil.rmtree(out)
        mib = args.size_mib
        t, g = statistics.median(tether_s), statistics.median(gh_s)
        print(f"{mib} MiB, medians of {args.runs}:")
        print(f"  tether fetch (verified, activated): {t:.2f} s, {mib / t:.0f} MiB/s")
        print(f"  gh release download + sha256sum -c: {g:.2f} s, {mib / g:.0f} MiB/s")
        print(f"  tether / gh: {g / t:.2f}x the speed; Prism violations: {len(prism.violations())}")
    finally:
        prism.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
