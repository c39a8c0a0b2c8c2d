"""tether: one exact, verified, reproducible local ML model, from upstream checkpoint to vector."""

from __future__ import annotations

__version__ = "0.1.0"

# --- runtime facade: resolve a profile folder, load an embedder, embed --------------------
# Lazy: `import tether` stays light; numpy/onnxruntime/tokenizers load on first use only.

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tether.errors import (
    ProbeMismatchError,
    ProfileIncompleteError,
    ProfileNotFoundError,
    RuntimeOptionError,
    TetherError,
)

if TYPE_CHECKING:
    from tether.resolution import Resolution
    from tether.runtime.embedder import Embedder

__all__ = [
    "Embedder",
    "ProbeMismatchError",
    "ProfileIncompleteError",
    "ProfileNotFoundError",
    "RuntimeOptionError",
    "TetherError",
    "__version__",
    "load",
    "resolve",
]


def load(
    profile_id: str,
    *,
    path: str | os.PathLike[str] | None = None,
    variant: str | None = None,
    app_name: str = "tether",
    env_var: str | None = None,
    project_dir: str | os.PathLike[str] | None = None,
    expect: Mapping[str, Any] | None = None,
    threads: int | None = None,
    max_batch_tokens: int | None = None,
    probe: bool = False,
) -> Embedder:
    """An Embedder for the best complete profile folder of ``profile_id``.

    Looks in ``path``, then ``$env_var`` / ``$TETHER_MODELS_DIR``, the user's app-data folder
    for ``app_name``, bundled folders and ``<project_dir>/data/embedding_models``; picks the
    variant (``auto``: int8 where the CPU suits it). ``embedder.resolution.explain()`` says
    why. Raises ProfileIncompleteError with the trail when no folder is complete.
    """
    from tether.runtime.embedder import load as _load

    return _load(
        profile_id,
        path=path,
        variant=variant,
        app_name=app_name,
        env_var=env_var,
        project_dir=project_dir,
        expect=expect,
        threads=threads,
        max_batch_tokens=max_batch_tokens,
        probe=probe,
    )


def resolve(
    profile_id: str,
    *,
    path: str | os.PathLike[str] | None = None,
    variant: str | None = None,
    app_name: str = "tether",
    env_var: str | None = None,
    project_dir: str | os.PathLike[str] | None = None,
    expect: Mapping[str, Any] | None = None,
) -> Resolution:
    """The folder and variant :func:`load` would use, with the trail of every candidate."""
    from tether.resolution import resolve as _resolve

    return _resolve(
        profile_id,
        path=path,
        variant=variant,
        app_name=app_name,
        env_var=env_var,
        project_dir=project_dir,
        expect=expect,
    )


def __getattr__(name: str) -> Any:
    if name == "Embedder":
        from tether.runtime.embedder import Embedder

        return Embedder
    raise AttributeError(f"module 'tether' has no attribute {name!r}")
