"""Small profile-shaped releases and projects for the bundle tests (no real model needed)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_profile_release
from tether.release import publish_release
from tether.stores.file import FileStore

PROFILE_ID = "local-text-retrieval-v1"
KB = 1 << 10


def make_small_release(folder: Path, *, seed: int = 1, sidecar: bool = True) -> Path:
    """A release folder shaped like an embedding profile, with small random model files."""
    sizes = (300 * KB, 100 * KB if sidecar else 0, 150 * KB)
    return make_profile_release(folder, seed=seed, sizes=sizes, vocab=False)


def make_project(
    root: Path, store: FileStore, *, version: str = "1.0.0", extra_toml: str = ""
) -> Path:
    """A consuming repo pinned to ``version`` of a store that holds it."""
    project = root / "app"
    project.mkdir(parents=True, exist_ok=True)
    if version not in store.versions(PROFILE_ID):
        publish_release(store, make_small_release(root / f"build-{version}"), version=version)
    (project / "tether.toml").write_text(
        f'store = "{store.url}"\n\n[profile]\nid = "{PROFILE_ID}"\n{extra_toml}'
    )
    (project / ".model-version").write_text(f"{version}\n")
    return project
