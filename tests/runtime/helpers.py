"""Test helpers for the runtime: a tiny real model release, profile folders, ways to break them.

The tiny release is a random 2-layer BERT (hidden size 32) exported with torch.onnx and
quantized with onnxruntime, with a WordPiece tokenizer built by ``tokenizers``: the same
file layout and formats as a real release, small enough to build in a few seconds.
Breaking a file always unlinks it first, so folders made of hard links never damage the
files they share.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

from tether.prepared import PREPARED_FILE, Prepared, PreparedFile, write_prepared

PROFILE_ID = "local-text-retrieval-v1"
TINY_MAX_LENGTH = 32
TINY_DIM = 32

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "it",
    "an",
    "be",
    "this",
    "which",
    "or",
    "are",
    "have",
    "had",
    "not",
    "but",
    "model",
    "vector",
    "search",
    "memory",
    "cache",
    "profile",
    "release",
    "version",
    "user",
    "file",
    "folder",
    "runtime",
    "embedding",
    "text",
    "query",
    "document",
    "retrieval",
    "quantization",
    "batch",
    "token",
    "length",
    "server",
    "client",
    "network",
    "river",
    "mountain",
    "city",
    "music",
    "history",
    "science",
    "weather",
    "coffee",
    "garden",
    "library",
    "window",
    "morning",
    "evening",
    "quickly",
    "slowly",
    "carefully",
    "beautiful",
    "strange",
    "ancient",
    "modern",
    "simple",
    "complex",
    "reliable",
    "verified",
    "reproducible",
    "offline",
    "local",
    "remote",
]


def sample_texts(count: int, seed: int = 0) -> list[str]:
    """Deterministic sentences of varied length (1 to ~60 words), some longer than max_length."""
    import random

    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = max(1, min(int(rng.lognormvariate(2.3, 0.8)), 80))
        texts.append(" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + ".")
    return texts


def tiny_profile(*, max_length: int = TINY_MAX_LENGTH, pooling: str = "mean") -> dict:
    return {
        "profile_id": PROFILE_ID,
        "dim": TINY_DIM,
        "pooling": pooling,
        "normalize": True,
        "max_length": max_length,
        "tokenizer_sha256": None,
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "output": "last_hidden_state",
        "variants": {
            "fp32": {"file": "onnx/model.onnx"},
            "int8": {
                "file": "onnx/model_quantized.onnx",
                "quantization": {"method": "dynamic", "weights": "QInt8", "per_channel": True},
            },
        },
    }


def build_tiny_release(dest: Path, *, max_length: int = TINY_MAX_LENGTH) -> Path:
    """A release folder: tokenizer.json, vocab.txt, onnx/model(_quantized).onnx, profile.json,
    probe.json (fp32 references computed with torch, independently of tether)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel

    dest.mkdir(parents=True, exist_ok=True)
    (dest / "onnx").mkdir(exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab_list = specials + letters + ["##" + c for c in letters] + [".", ","] + sorted(set(WORDS))
    vocab = {token: i for i, token in enumerate(vocab_list)}
    (dest / "vocab.txt").write_text("\n".join(vocab_list) + "\n", encoding="utf-8")
    tokenizer = BertWordPieceTokenizer(vocab, lowercase=True)
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.save(str(dest / "tokenizer.json"))

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab_list),
        hidden_size=TINY_DIM,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    bert = BertModel(config).eval()

    class Hidden(torch.nn.Module):  # transformers 5 needs keyword arguments
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    model = Hidden().eval()  # one instance: export restores its training flag afterwards
    ids = torch.ones(2, 8, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter of the legacy exporter
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(dest / "onnx/model.onnx"),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
            opset_version=18,
            dynamo=False,
        )
    quantize_dynamic(
        str(dest / "onnx/model.onnx"),
        str(dest / "onnx/model_quantized.onnx"),
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    profile = tiny_profile(max_length=max_length)
    profile["tokenizer_sha256"] = sha256(dest / "tokenizer.json")
    (dest / "profile.json").write_text(json.dumps(profile, indent=2), encoding="utf-8")

    # probe.json: fp32 references from torch (mean pooling + L2), one text at a time.
    texts = sample_texts(12, seed=99)
    references = []
    with torch.no_grad():
        for enc in (tokenizer.encode(text) for text in texts):  # one by one: no padding
            ids = torch.tensor([enc.ids])
            hidden = model(ids, torch.ones_like(ids), torch.zeros_like(ids))[0]
            vector = hidden.mean(dim=0)
            references.append((vector / vector.norm()).tolist())
    (dest / "probe.json").write_text(
        json.dumps({"schema": 1, "texts": texts, "fp32": references}), encoding="utf-8"
    )
    return dest


# --- fake profile folders (no model: for the stat-only checks) -------------------------


def profile_dict(**changes: object) -> dict:
    data = {
        "profile_id": PROFILE_ID,
        "dim": 384,
        "pooling": "mean",
        "normalize": True,
        "max_length": 256,
        "tokenizer_sha256": "ab" * 32,
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "output": "last_hidden_state",
        "variants": {
            "fp32": {"file": "onnx/model.onnx"},
            "int8": {"file": "onnx/model_quantized.onnx", "quantization": {"method": "dynamic"}},
        },
    }
    data.update(changes)
    return data


def make_fake_folder(
    folder: Path,
    *,
    variants: tuple[str, ...] = ("fp32", "int8"),
    profile: dict | None = None,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A profile folder of small fake files (for stat-only checks); .prepared.json records
    their sizes and a *wrong* sha256, so any check that hashed would fail."""
    profile = profile or profile_dict()
    files = {
        "profile.json": json.dumps(profile).encode(),
        "tokenizer.json": b'{"fake": "tokenizer"}',
        "vocab.txt": b"[PAD]\n",
        **{profile["variants"][v]["file"]: f"{v} model bytes".encode() for v in variants},
        **(extra or {}),
    }
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    record = {rel: PreparedFile(len(data), "f" * 64) for rel, data in files.items()}
    write_prepared(
        folder,
        Prepared("file:///s", PROFILE_ID, "model-v1.0.0", "0" * 64, sorted(variants), record),
    )
    return folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def variant_files(profile: dict, names: list[str]) -> set[str]:
    return {profile["variants"][v]["file"] for v in names}


def prepare_folder(
    release: Path,
    folder: Path,
    *,
    variants: tuple[str, ...] = ("fp32", "int8"),
    store: str = "file:///test-store",
) -> Path:
    """A profile folder as tether fetch leaves it: the chosen variants' files, hard-linked
    (copied across file systems) from ``release``, and .prepared.json written last."""
    profile = json.loads((release / "profile.json").read_text(encoding="utf-8"))
    others = [v for v in profile["variants"] if v not in variants]
    excluded = {
        rel
        for rel in (p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file())
        if any(rel.startswith(f) for f in variant_files(profile, others))
    }
    files: dict[str, PreparedFile] = {}
    for path in sorted(p for p in release.rglob("*") if p.is_file()):
        rel = path.relative_to(release).as_posix()
        if rel in excluded or rel in (PREPARED_FILE, "MANIFEST.txt"):
            continue
        link_or_copy(path, folder / rel)
        files[rel] = PreparedFile(path.stat().st_size, sha256(path))
    write_prepared(
        folder,
        Prepared(store, PROFILE_ID, "model-v1.0.0", "0" * 64, sorted(variants), files),
    )
    return folder


def clone_folder(source: Path, dest: Path) -> Path:
    """A hard-linked copy of a whole profile folder (cheap even for a real model)."""
    for path in source.rglob("*"):
        if path.is_file():
            link_or_copy(path, dest / path.relative_to(source))
    return dest


def link_or_copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def replace_file(path: Path, data: bytes) -> None:
    """Give ``path`` new content without touching the inode it may share with other folders."""
    path.unlink(missing_ok=True)
    path.write_bytes(data)


# The ways a profile folder can be broken, each with the rejection reason it must produce.
def break_folder(folder: Path, how: str, *, variant: str = "int8") -> str:
    """Damage ``folder`` in one of the listed ways; returns the expected rejection reason."""
    profile = json.loads((folder / "profile.json").read_text(encoding="utf-8"))
    model = folder / profile["variants"][variant]["file"]
    if how == "missing_tokenizer":
        (folder / "tokenizer.json").unlink()
    elif how == "missing_model":
        model.unlink()
    elif how == "zero_byte":
        replace_file(model, b"")
    elif how == "size_differs":
        replace_file(model, model.read_bytes()[:-1])
    elif how == "no_prepared":
        (folder / PREPARED_FILE).unlink()
    elif how == "contract_differs":
        profile["max_length"] = profile["max_length"] // 2
        replace_file(folder / "profile.json", json.dumps(profile).encode())
        record = json.loads((folder / PREPARED_FILE).read_text(encoding="utf-8"))
        record["files"]["profile.json"]["size"] = (folder / "profile.json").stat().st_size
        replace_file(folder / PREPARED_FILE, json.dumps(record).encode())
    elif how == "missing_sidecar":
        # The release lists an external-data file for the model that is not on disk.
        record = json.loads((folder / PREPARED_FILE).read_text(encoding="utf-8"))
        sidecar = profile["variants"][variant]["file"] + "_data"
        record["files"][sidecar] = {"size": 1234, "sha256": "0" * 64}
        replace_file(folder / PREPARED_FILE, json.dumps(record).encode())
    else:
        raise ValueError(how)
    return how


BREAKAGES = (
    "missing_tokenizer",
    "missing_model",
    "missing_sidecar",
    "zero_byte",
    "size_differs",
    "no_prepared",
    "contract_differs",
)


def poison_weights(model: Path) -> None:
    """Set every float weight of an ONNX file to NaN, keeping the file's size: the damage a
    stat-only check cannot see, which loads and then gives NaN vectors."""
    import numpy as np
    import onnx

    proto = onnx.load(str(model))
    nan = np.float32("nan").tobytes()
    for tensor in proto.graph.initializer:
        if tensor.data_type == onnx.TensorProto.FLOAT and tensor.raw_data:
            tensor.raw_data = nan * (len(tensor.raw_data) // 4)
    data = proto.SerializeToString()
    assert len(data) == model.stat().st_size, "the poisoned model must keep its size"
    replace_file(model, data)


def garble(path: Path) -> None:
    """Replace a file by as many bytes that no loader accepts (its recorded size still fits)."""
    replace_file(path, b"\x07" * path.stat().st_size)
