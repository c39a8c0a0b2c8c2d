"""Fixtures shared across the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
