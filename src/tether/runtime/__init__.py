"""The runtime: resolve a profile folder, load it, embed. Needs only onnxruntime,
tokenizers, numpy and platformdirs: never the stores, the build tools or the CLI
(import-linter's runtime contract and tests/runtime/test_runtime_imports.py pin this).

    resolution  which folder to load (env, app data, bundle), with the trail of why
    embedder    Embedder / load(): tokenize, batch, run, pool, normalize
    cpu         which variant suits this CPU

Other rooms use only the names below; the modules behind them are private to the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.doors import lazy_door

if TYPE_CHECKING:
    from tether.runtime.cpu import VARIANT_CHOICES
    from tether.runtime.embedder import Embedder, load
    from tether.runtime.pooling import l2_normalize, pool
    from tether.runtime.resolution import Resolution, resolve

_EXPORTS = {
    "Embedder": "embedder",
    "Resolution": "resolution",
    "VARIANT_CHOICES": "cpu",
    "l2_normalize": "pooling",
    "load": "embedder",
    "pool": "pooling",
    "resolve": "resolution",
}
__all__ = [
    "VARIANT_CHOICES",
    "Embedder",
    "Resolution",
    "l2_normalize",
    "load",
    "pool",
    "resolve",
]
__getattr__ = lazy_door(__name__, _EXPORTS)
