"""tether: one exact, verified, reproducible local ML model, from upstream checkpoint to vector."""

from __future__ import annotations

__version__ = "0.1.0"

# --- runtime facade: resolve a profile folder, load an embedder, embed --------------------
# Lazy: `import tether` stays light; numpy/onnxruntime/tokenizers load on first use only.

from typing import TYPE_CHECKING, Any

from tether.errors import (
    ProbeMismatchError,
    ProfileIncompleteError,
    ProfileNotFoundError,
    RuntimeOptionError,
    TetherError,
)

if TYPE_CHECKING:
    from tether.runtime import Embedder, load, resolve

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


# Attribute -> module that defines it, imported on first access (PEP 562), so the
# facade keeps the real functions' signatures and docs without re-declaring them.
_LAZY = {
    "load": "tether.runtime.embedder",
    "Embedder": "tether.runtime.embedder",
    "resolve": "tether.runtime.resolution",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'tether' has no attribute {name!r}")
