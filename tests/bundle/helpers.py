"""Small profile-shaped releases and projects for the bundle tests (no real model needed)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_random
from tether.release import publish_release
from tether.stores.file import FileStore

PROFILE_ID = "local-text-retrieval-v1"
KB = 1 << 10


def make_small_release(folder: Path, *, seed: int = 1, sidecar: bool = True) -> Path:
    """A release folder shaped like an embedding profile, with small random model files."""
    write_random(folder / "onnx" / "model.onnx", 300 * KB, seed=seed)
    if sidecar:
        write_random(folder / "onnx" / "model.onnx_data", 100 * KB, seed=seed + 100)
    write_random(folder / "onnx" / "model_quantized.onnx", 150 * KB, seed=seed + 200)
    (folder / "tokenizer.json").write_text('{"version": "1.0"}')
    profile = {
        "profile_id": PROFILE_ID,
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
