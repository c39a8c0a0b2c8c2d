"""tether verify and no-op fetch, side by side with hashlib in one run.

Targets (issue 2): verify of a 1 GiB single-file release >= 0.9x hashlib.sha256 over the
same file; a 2 x 512 MiB release >= 1.6x that single-thread speed; a no-op fetch of the
prepared 1 GiB profile < 50 ms of process time beyond interpreter start-up.

    .venv/bin/python benchmarks/verify_speed.py [--size-mib 1024] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tether import fetch_release, open_store, publish_release, verify_profile
from tether.spine import write_pin

MIB = 1 << 20


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MIB)
    with open(path, "wb") as handle:
        for _ in range(size // MIB):
            handle.write(block)


def hashlib_seconds(paths: list[Path]) -> float:
    """Plain single-thread hashlib.sha256, 1 MiB reads: the baseline."""
    start = time.perf_counter()
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(MIB):
                digest.update(chunk)
    return time.perf_counter() - start


def verify_seconds(folder: Path) -> float:
    start = time.perf_counter()
    verify_profile(folder)
    return time.perf_counter() - start


# As installed apps run: with bytecode caches (pip compiles them at install time).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def child_cpu_seconds(args: list[str], cwd: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, env=CHILD_ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def prepare(root: Path, name: str, files: dict[str, int]) -> Path:
    source = root / f"src-{name}"
    for rel, size in files.items():
        write_random(source / rel, size)
    store = open_store(str(root / "store"))
    publish_release(store, source, name=name, version="1.0.0")
    return fetch_release(store, name, "1.0.0", root / "project" / "models").folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        root = Path(tmp)
        one = prepare(root, "single", {"model.bin": size})
        two = prepare(root, "double", {"a.bin": size // 2, "b.bin": size // 2})
        one_paths = [one / "model.bin"]
        hashlib_seconds(one_paths)  # warm the page cache
        rows = []
        for _ in range(args.runs):
            rows.append((hashlib_seconds(one_paths), verify_seconds(one), verify_seconds(two)))
        base, v1, v2 = (statistics.median(col) for col in zip(*rows, strict=True))
        gbps = size / 1e9
        print(f"file size: {args.size_mib} MiB, runs: {args.runs} (medians)")
        print(f"hashlib.sha256, 1 thread      : {gbps / base:5.2f} GB/s")
        print(
            f"tether verify, 1 x {args.size_mib} MiB  : {gbps / v1:5.2f} GB/s  "
            f"ratio {base / v1:4.2f}x (target >= 0.9x)"
        )
        print(
            f"tether verify, 2 x {args.size_mib // 2} MiB   : {gbps / v2:5.2f} GB/s  "
            f"ratio {base / v2:4.2f}x (target >= 1.6x)"
        )

        project = root / "project"
        write_pin(project, "1.0.0")
        fetch = [
            sys.executable,
            "-m",
            "tether",
            "fetch",
            "--store",
            str(root / "store"),
            "--name",
            "single",
            "--profiles-dir",
            "models",
        ]
        noop, start_up = [], []
        child_cpu_seconds(fetch, project)  # warm-up: writes the bytecode caches
        for _ in range(args.runs):
            noop.append(child_cpu_seconds(fetch, project))
            start_up.append(child_cpu_seconds([sys.executable, "-c", "pass"], project))
        extra_ms = (statistics.median(noop) - statistics.median(start_up)) * 1000
        print(
            f"no-op fetch of the prepared {args.size_mib} MiB profile: "
            f"{extra_ms:.0f} ms process time beyond interpreter start-up (target < 50 ms)"
        )


if __name__ == "__main__":
    main()
