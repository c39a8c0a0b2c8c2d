"""Builders of test inputs shared across the suite: release folders, files, keys.

Test modules import these instead of importing each other; fixtures live in conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from tether.signing import generate_key, load_signer
from tether.spine import TrustPolicy, keys_policy

NAME = "local-text-retrieval-v1"
KB = 1 << 10
MB = 1 << 20


def write_random(path: Path, size: int, seed: int = 0) -> Path:
    """A file of ``size`` pseudo-random bytes (fast: repeats a 1 MiB random block)."""
    import random

    path.parent.mkdir(parents=True, exist_ok=True)
    block = random.Random(seed).randbytes(1 << 20)
    with open(path, "wb") as handle:
        remaining = size
        while remaining:
            n = min(remaining, len(block))
            handle.write(block[:n])
            remaining -= n
    return path


def make_profile_release(
    folder: Path,
    *,
    seed: int,
    sizes: tuple[int, int, int],
    vocab: bool = True,
    profile_id: str = NAME,
) -> Path:
    """A release folder shaped like an embedding profile, with random model files.

    ``sizes``: fp32 model, its external-data sidecar (0: none), int8 model, in bytes.
    """
    fp32, sidecar, int8 = sizes
    write_random(folder / "onnx" / "model.onnx", fp32, seed=seed)
    if sidecar:
        write_random(folder / "onnx" / "model.onnx_data", sidecar, seed=seed + 100)
    write_random(folder / "onnx" / "model_quantized.onnx", int8, seed=seed + 200)
    (folder / "tokenizer.json").write_text('{"version": "1.0"}')
    if vocab:
        (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    profile = {
        "profile_id": profile_id,
        "dim": 384,
        "pooling": "mean",
        "normalize": True,
        "max_length": 256,
        "variants": {
            "fp32": {"file": "onnx/model.onnx"},
            "int8": {"file": "onnx/model_quantized.onnx"},
        },
    }
    (folder / "profile.json").write_text(json.dumps(profile))
    return folder


def make_small_release(
    folder: Path, *, seed: int = 1, sidecar: bool = True, vocab: bool = False
) -> Path:
    """A release folder shaped like an embedding profile, with small random model files
    (for tests that only read profile.json and move files around)."""
    sizes = (300 * KB, 100 * KB if sidecar else 0, 150 * KB)
    return make_profile_release(folder, seed=seed, sizes=sizes, vocab=vocab)


def make_large_release(folder: Path, *, seed: int, vocab: bool = True) -> Path:
    """A release folder shaped like an embedding profile, with >= 50 MB of model files."""
    return make_profile_release(folder, seed=seed, sizes=(36 * MB, 4 * MB, 18 * MB), vocab=vocab)


class KeyPair:
    def __init__(self, folder: Path, stem: str, curve: str = "p256") -> None:
        self.private = folder / f"{stem}.key"
        self.public = folder / f"{stem}.pub"
        self.trusted = generate_key(self.private, self.public, curve=curve)
        self.signer = load_signer(str(self.private))

    @property
    def policy(self) -> TrustPolicy:
        return keys_policy([self.public])


def flip_byte(path: Path, offset: int) -> None:
    """Change one byte in place (inverting it, so the file surely differs)."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))
