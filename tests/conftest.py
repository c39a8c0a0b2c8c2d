"""Fixtures shared across the test suite."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Store harnesses and the real servers behind them (session-scoped, started on first use).
pytest_plugins = ["tests.store_harness"]


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
    profile_id: str = "local-text-retrieval-v1",
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


@pytest.fixture
def artifact_dir(tmp_path: Path) -> Path:
    """A small generic artifact folder (a GGUF-like blob with its Modelfile)."""
    folder = tmp_path / "artifact"
    write_random(folder / "model.gguf", 300_000, seed=1)
    (folder / "Modelfile").write_text("FROM ./model.gguf\n")
    return folder


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty consuming repo as the working directory, with no TETHER_* settings leaking in."""
    folder = tmp_path / "project"
    folder.mkdir()
    for key in list(os.environ):
        if key.startswith("TETHER_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture(scope="session")
def minilm_build() -> Path:
    """The real all-MiniLM-L6-v2 built once per session (a shared, unreleased folder: do
    not modify it; copy it with tests.real_models.build_minilm when a test must)."""
    from tests.real_models import cached_minilm_build

    return cached_minilm_build()
