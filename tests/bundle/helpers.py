"""Small profile-shaped releases and projects for the bundle tests (no real model needed)."""

from __future__ import annotations

from pathlib import Path

from tests.factories import make_small_release
from tether.spine import publish_release
from tether.stores.file import FileStore

PROFILE_ID = "local-text-retrieval-v1"


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
