"""Pull and push of a 1 GiB release on a local OCI registry, side by side in one run.

Targets (issue 5): `fetch` of a 1 GiB release from the registry, every byte verified,
>= 0.8x a raw streaming GET of the same blob with requests (medians of --runs); peak RSS
of a 1 GiB push and of a 1 GiB pull (each in a fresh child process, ru_maxrss) < 200 MiB.

Starts Debian's docker-registry (Distribution 2.8) on 127.0.0.1 with storage in a temp
folder (tests/servers.py), so it needs `apt-get install docker-registry`.

    .venv/bin/python benchmarks/oci_pull.py [--size-mib 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.servers

import requests  # noqa: E402

from tests.servers import start_registry  # noqa: E402
from tether.fetch import fetch_release  # noqa: E402
from tether.release import publish_release  # noqa: E402
from tether.stores import open_store  # noqa: E402

MIB = 1 << 20
NAME, VERSION = "bench", "1.0.0"


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for _ in range(size // MIB):
            handle.write(os.urandom(MIB))


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- child processes (RSS is measured in a fresh interpreter) -------------------------------


def child(argv: list[str]) -> None:
    mode, url = argv[0], argv[1]
    import_rss = max_rss_mib()
    if mode == "push":
        publish_release(open_store(url), Path(argv[2]), name=NAME, version=VERSION)
    elif mode == "pull":
        fetch_release(open_store(url), NAME, VERSION, Path(argv[2]))
    print(json.dumps({"import_rss_mib": import_rss, "max_rss_mib": max_rss_mib()}))


def run_child(*args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the two pulls ------------------------------------------------------------------------


def raw_get_seconds(blob_url: str, target: Path, *, fsync: bool = False) -> float:
    """requests, stream=True, 1 MiB chunks written to a file: no verification (and with
    ``fsync``, the same durability fetch gives its files)."""
    start = time.perf_counter()
    with requests.get(blob_url, stream=True, timeout=60) as resp, open(target, "wb") as handle:
        resp.raise_for_status()
        for chunk in resp.iter_content(MIB):
            handle.write(chunk)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


def fetch_seconds(url: str, dest: Path) -> float:
    """tether fetch: read MANIFEST, stream every file to a temp name hashing as it goes,
    compare, fsync, rename into place, write .prepared.json."""
    start = time.perf_counter()
    fetch_release(open_store(url), NAME, VERSION, dest)
    elapsed = time.perf_counter() - start
    shutil.rmtree(dest)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    args = parser.parse_args()
    size = args.size_mib * MIB

    work = Path(tempfile.mkdtemp(prefix="tether-oci-bench-", dir=args.workdir))
    server = start_registry(work / "registry")
    try:
        url = f"oci://{server.url}/bench"
        source = work / "source"
        write_random(source / "model.gguf", size)
        print(f"registry {server.url}, release of {args.size_mib} MiB in {work}")

        start = time.perf_counter()
        push = run_child("push", url, str(source))
        push_s = time.perf_counter() - start
        print(
            f"push (child): {push_s:.1f} s wall incl. start-up, {size / push_s / 1e6:.0f} MB/s; "
            f"peak RSS {push['max_rss_mib']:.0f} MiB "
            f"(after imports {push['import_rss_mib']:.0f} MiB)"
        )

        store = open_store(url)
        digest = store._release(NAME, VERSION).layers["model.gguf"].digest  # type: ignore[attr-defined]
        blob_url = f"http://{server.url}/v2/bench/{NAME}/blobs/{digest}"
        raw_get_seconds(blob_url, work / "raw.bin")  # warm-up: the blob into the page cache
        raw: list[float] = []
        raw_sync: list[float] = []
        fetched: list[float] = []
        for _ in range(args.runs):  # interleaved, so drift on a shared machine hits all three
            os.sync()  # start each from clean page cache writeback, untimed
            raw.append(raw_get_seconds(blob_url, work / "raw.bin"))
            os.sync()
            raw_sync.append(raw_get_seconds(blob_url, work / "raw.bin", fsync=True))
            os.sync()
            fetched.append(fetch_seconds(url, work / "models"))

        def rate(runs: list[float]) -> float:
            return size / statistics.median(runs) / 1e6

        for label, runs in (
            ("raw streaming GET -> file             ", raw),
            ("raw streaming GET -> file + fsync     ", raw_sync),
            ("tether fetch (sha256 verified + fsync)", fetched),
        ):
            rounded = [round(x, 2) for x in runs]
            print(
                f"{label}: median {statistics.median(runs):.2f} s, {rate(runs):.0f} MB/s {rounded}"
            )
        print(
            f"ratio fetch / raw GET: {rate(fetched) / rate(raw):.2f}  (target >= 0.8); "
            f"fetch / raw GET + fsync: {rate(fetched) / rate(raw_sync):.2f}"
        )

        pull = run_child("pull", url, str(work / "models-child"))
        print(
            f"pull (child): peak RSS {pull['max_rss_mib']:.0f} MiB "
            f"(after imports {pull['import_rss_mib']:.0f} MiB)  (target < 200 MiB)"
        )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
