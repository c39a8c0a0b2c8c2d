"""Fixtures shared across the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.factories import KeyPair, write_random

# Store harnesses and the real servers behind them (session-scoped, started on first use).
pytest_plugins = ["tests.store_harness"]


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


@pytest.fixture(scope="session")
def release_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return KeyPair(tmp_path_factory.mktemp("keys"), "release")


@pytest.fixture(scope="session")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return KeyPair(tmp_path_factory.mktemp("other-keys"), "other", curve="p384")
