"""Fixtures for the runtime tests: a tiny real model (fast) and the real MiniLM (end to end)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.runtime.helpers import PROFILE_ID, build_tiny_release, prepare_folder


@pytest.fixture(autouse=True)
def isolated_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No TETHER_* settings, a private user data folder, an empty project as cwd, no bundle."""
    for key in list(os.environ):
        if key.startswith("TETHER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))  # platformdirs on Linux
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    monkeypatch.delattr(sys, "frozen", raising=False)
    return project


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release folder of a tiny random BERT (fp32 + int8); shared: never modify it."""
    return build_tiny_release(tmp_path_factory.mktemp("tiny-release"))


@pytest.fixture
def tiny_folder(tiny_release: Path, tmp_path: Path) -> Path:
    """A complete profile folder (both variants) of the tiny model, this test's own."""
    return prepare_folder(tiny_release, tmp_path / "models" / PROFILE_ID)


@pytest.fixture(scope="session")
def minilm_release(request: pytest.FixtureRequest) -> Path:
    """The built MiniLM release folder (shared: never modify it)."""
    try:
        return Path(request.getfixturevalue("minilm_build"))
    except pytest.FixtureLookupError:  # the suite-wide fixture is not there (yet)
        from tests.real_models import cached_minilm_build

        return cached_minilm_build()


@pytest.fixture(scope="session")
def minilm_folder(minilm_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MiniLM profile folder made the real way: published to a file store, then fetched.

    Shared by the session: tests that damage a folder clone it first (clone_folder).
    """
    from tether.spine import fetch_release, publish_release
    from tether.stores import open_store

    root = tmp_path_factory.mktemp("minilm")
    store = open_store(root / "store")
    publish_release(store, minilm_release, name=PROFILE_ID, version="1.0.0")
    result = fetch_release(store, PROFILE_ID, "1.0.0", root / "models", variants="both")
    return result.folder
